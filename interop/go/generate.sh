#!/bin/sh
# Regenerates the Go codecs in pb/ from ../../proto/peerlink/v1/*.proto with
# protoc + protoc-gen-go. The .proto files carry no go_package option (they are
# shared by every language), so the import path is given with --go_opt=M.
#
# usage: interop/go/generate.sh [OUT_DIR]
#   OUT_DIR defaults to this directory; the files land in OUT_DIR/pb/.
#   test/interop checks that the committed pb/ is exactly what this writes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../proto" && pwd)
out=${1:-$here}
module=peerlink/interop
mkdir -p "$out/pb"
cd "$proto_root"
set --
for file in peerlink/v1/*.proto; do
  set -- "$@" "--go_opt=M$file=$module/pb;peerlinkpb" "$file"
done
protoc -I "$proto_root" --go_out="$out" --go_opt=module=$module "$@"
