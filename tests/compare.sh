# assert_bitmaps_match IMAGE
#
# `vckpt --json bitmaps IMAGE` and `qemu-img info --backing-chain
# --output=json IMAGE` describe the same chain: file names, formats, virtual
# sizes, backing names and formats, corrupt flags, and every bitmap's name,
# granularity and flags.  -U: the image may be open in a running QEMU.
assert_bitmaps_match ()
{
    local img=$1
    qemu-img info -U --backing-chain --output=json "$img" | jq -S '
        [ if type == "array" then .[] else . end |
          { filename, format, virtual_size: ."virtual-size",
            backing_file: (."backing-filename" // null),
            backing_format: (."backing-filename-format" // null),
            corrupt: (."format-specific".data.corrupt // false),
            bitmaps: [ (."format-specific".data.bitmaps // [])[] |
                       { name, granularity, flags: (.flags | sort) } ] } ]' \
        > "$TMPD/qemu-img.json"
    vckpt --json bitmaps "$img" | jq -S '
        [ .images[] |
          { filename, format, virtual_size, backing_file, backing_format,
            corrupt: (.corrupt // false),
            bitmaps: [ .bitmaps[] | { name, granularity, flags: (.flags | sort) } ] } ]' \
        > "$TMPD/vckpt.json"
    diff -u "$TMPD/qemu-img.json" "$TMPD/vckpt.json" ||
        fail "vckpt bitmaps and qemu-img info disagree on $img"
}
