module peerlink/interop

go 1.19

require google.golang.org/protobuf v1.28.1

// Debian's golang-google-protobuf-dev: builds offline, no module proxy needed.
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
