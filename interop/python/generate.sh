#!/bin/sh
# Regenerates the Python codecs in pb/ from ../../proto/peerlink/v1/*.proto with
# protoc --python_out (protoc 3.21 writes modules for the protobuf 4.21 runtime).
# The modules import each other as `peerlink.v1.*_pb2`, so pb/ is what goes on
# sys.path (peerlink_core.py does that).
#
# usage: interop/python/generate.sh [OUT_DIR]
#   OUT_DIR defaults to this directory; the files land in OUT_DIR/pb/peerlink/v1/.
#   test/interop checks that the committed pb/ is exactly what this writes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../proto" && pwd)
out=${1:-$here}
mkdir -p "$out/pb"
cd "$proto_root"
protoc -I "$proto_root" --python_out="$out/pb" peerlink/v1/*.proto
