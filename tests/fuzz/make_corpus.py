#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora and regression inputs (tests/fuzz/corpus/, tests/fuzz/regressions/).

    tests/fuzz/make_corpus.py [DIR]        (default: the folder of this script)

Seeds are small valid files of each format, built here the way tests/test_data_fixtures.cpp builds its
fixtures (nothing is read from a dataset folder). Regressions are the crafted inputs that once crashed or
misbehaved (issue 15): every harness must answer each with a clear error, and keeps doing so in CI.
Inputs found by fuzzing (scripts/fuzz puts them in build-fuzz/artifacts/) are copied into
regressions/<harness>/ by hand, under a name that says what they broke; this script does not rewrite them.
Standard library only; its own output is deterministic.
"""
import base64
import gzip
import json
import os
import struct
import sys
import zlib


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def pattern(n):
    return bytes((i * 37 + 11) % 256 for i in range(n))


def npy(descr, shape, payload, fortran=False):
    shape_text = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join("%d" % s for s in shape) + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    unpadded = 10 + len(header) + 1
    header += " " * ((64 - unpadded % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def mat_element(mi_type, payload):
    pad = (8 - len(payload) % 8) % 8
    return struct.pack("<II", mi_type, len(payload)) + payload + b"\0" * pad


MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 5, 6, 9, 14, 15
MX_DOUBLE, MX_UINT8 = 6, 9


def mat_matrix(name, array_class, dims, stored_type, data):
    body = mat_element(MI_UINT32, struct.pack("<II", array_class, 0))
    body += mat_element(MI_INT32, b"".join(struct.pack("<i", d) for d in dims))
    body += mat_element(MI_INT8, name.encode())
    body += mat_element(stored_type, data)
    return mat_element(MI_MATRIX, body)


def mat_file(matrices, compressed):
    header = b"MATLAB 5.0 MAT-file, written by collapse's fuzz corpus".ljust(116, b" ")
    header += b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    out = header
    for m in matrices:
        out += struct.pack("<II", MI_COMPRESSED, len(zlib.compress(m))) + zlib.compress(m) if compressed else m
    return out


def svhn(n, compressed, dims=None):
    x = mat_matrix("X", MX_UINT8, dims or [32, 32, 3, n], MI_UINT8, pattern(32 * 32 * 3 * n))
    y = mat_matrix("y", MX_DOUBLE, [n, 1], MI_DOUBLE, b"".join(struct.pack("<d", 1 + i % 10) for i in range(n)))
    return mat_file([x, y], compressed)


def safetensors(entries, metadata=None, raw_header=None):
    header, data = {}, b""
    for name, (dtype, shape, payload) in entries.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


# Small JPEGs written once by libjpeg-turbo's tjCompress2 (quality 75, pixels (i * 37 + 11) % 256): a
# baseline 4:2:0 RGB, a grayscale, an Adobe YCCK (CMYK) and a progressive 4:2:2 file. Python's standard
# library has no JPEG encoder, so they are kept here as bytes.
JPEG_SEEDS = {
    "rgb420": base64.b64decode(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAx"
        "NDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
        "MjIyMjIyMjL/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
        "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
        "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
        "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
        "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm"
        "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq"
        "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwBUtjcFdLidFijxbzSooXI33FuSQGH9+Pv0wOgyIzcmeAtbgrEi+exbdtJ8uCcnPrmN8Doc"
        "HoBUjzyXMW63BSCNftDMS2N2y3nODg9fLk/UDAHDRDFLOdMtQFt42EDSYQ8eZcW+WHG7h4x27dhwR9xX2f5X/OT/AA2Wm4nzSu9t"
        "9evm/Lsvl1d//9k="),
    "gray": base64.b64decode(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAx"
        "NDQ0Hyc5PTgyPC4zNDL/wAALCAAIABABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF"
        "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW"
        "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi"
        "4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AFiSEoYLW0jGkxvsnW3mFpahCzph7hgTITuVcACNgQRzxUUxkn05SsUCaaMDM0bW"
        "1mSAj7Viz5s7HYxCschhlQRxX//Z"),
    "cmyk": base64.b64decode(
        "/9j/7gAOQWRvYmUAZAAAAAAC/9sAQwAIBgYHBgUIBwcHCQkICgwUDQwLCwwZEhMPFB0aHx4dGhwcICQuJyAiLCMcHCg3KSwwMTQ0"
        "NB8nOT04MjwuMzQy/9sAQwEJCQkMCwwYDQ0YMiEcITIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
        "MjIyMjIy/8AAFAgACAAIBAERAAIRAQMRAQQRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMF"
        "BQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RV"
        "VldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh"
        "4uPk5ebn6Onq8fLz9PX29/j5+v/EAB8BAAMBAQEBAQEBAQEAAAAAAAABAgMEBQYHCAkKC//EALURAAIBAgQEAwQHBQQEAAECdwAB"
        "AgMRBAUhMQYSQVEHYXETIjKBCBRCkaGxwQkjM1LwFWJy0QoWJDThJfEXGBkaJicoKSo1Njc4OTpDREVGR0hJSlNUVVZXWFlaY2Rl"
        "ZmdoaWpzdHV2d3h5eoKDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uLj5OXm5+jp"
        "6vLz9PX29/j5+v/aAA4EAQACEQMRBAAAPwA3R7HuUaSNj85273kcAbicnlefmzjI3M5G90UEeem1CyklZLblTet5O1ns9/dfKnrC"
        "KTSkpu7d3G65ntzN2so31te291flu5OVj/j18+HTuBzbLaLxNIxwS0hGXj4cDAO4CUr88krFf//Z"),
    "progressive": base64.b64decode(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAx"
        "NDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
        "MjIyMjIyMjL/wgARCAAQABADASEAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAAAgAB/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAH/"
        "2gAMAwEAAhADEAAAAYixP//EABgQAQADAQAAAAAAAAAAAAAAAAEAERIC/9oACAEBAAEFAs6mrLeihf/EABoRAAEFAQAAAAAAAAAA"
        "AAAAAAEAAiFBcdH/2gAIAQMBAT8Bgmd4mm3av//EABwRAAEDBQAAAAAAAAAAAAAAAAEAESECElGx8P/aAAgBAgEBPwGmJPFNaGxt"
        "f//EACIQAAEEAQIHAAAAAAAAAAAAAAEAAiIxE8HRESEygZKhsv/aAAgBAQAGPwLEKESfJuyjV+gdFGhL5OhWNvSOXHu5uy//xAAd"
        "EAACAgMAAwAAAAAAAAAAAAABEQAhMUFRYXHx/9oACAEBAAE/IRQQChBb6eYy6AHbX1oXFBMbyompyPT2O5j/2gAMAwEAAgADAAAA"
        "EO3/xAAcEQACAgMBAQAAAAAAAAAAAAABMREhAEFxgZH/2gAIAQMBAT8QJDFAbcCfEnGsBLptzQ9L1EHP/8QAHhEAAgAGAwAAAAAA"
        "AAAAAAAAAREAITFBUWGBsdH/2gAIAQIBAT8QAvWHa3AQwYZCd2z83SUf/8QAHBABAQACAgMAAAAAAAAAAAAAAREhMQBBUZGx/9oA"
        "CAEBAAE/EHUOg1FigPdqGii3BrWQ1t82JpjoOTY3AxlYx39AgYFyAJHjIGNC666Mf//Z"),
}


def png(w, h, channels, payload):
    """A PNG of 8-bit samples (color type 0 gray, 2 RGB), filter 0 on every row."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + payload[y * w * channels:(y + 1) * w * channels] for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, {1: 0, 3: 2}[channels], 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def with_frame_size(jpeg, w, h):
    """The JPEG with its start-of-frame height and width fields rewritten."""
    at = min(i for i in (jpeg.find(b"\xff\xc0"), jpeg.find(b"\xff\xc2")) if i >= 0)
    return jpeg[:at + 5] + struct.pack(">HH", h, w) + jpeg[at + 9:]


def files():
    floats = b"".join(struct.pack("<f", i / 7) for i in range(12))
    return {
        ("corpus", "idx"): {
            "images.idx": idx([2, 4, 4], pattern(32)),
            "labels.idx": idx([5], bytes([0, 1, 2, 3, 9])),
            "images.idx.gz": gzip.compress(idx([3, 5, 5], pattern(75)), mtime=0),
        },
        ("regressions", "idx"): {
            # dimensions whose product overflows int64 (used to pass the size check after wrapping)
            "overflowing-dimensions.idx": idx([0xFFFFFFFF] * 3, b"\0" * 16),
            # 64 KiB of gzip that inflates to 16 MiB behind a header promising 32 bytes
            "gzip-bomb.idx.gz": gzip.compress(idx([2, 4, 4], pattern(32)) + b"\0" * (16 << 20), mtime=0),
            "truncated-header.idx": bytes([0, 0, 8, 3, 0, 0]),
        },
        ("corpus", "mat"): {
            "svhn-2.mat": svhn(2, compressed=False),
            "svhn-3-compressed.mat": svhn(3, compressed=True),
        },
        ("regressions", "mat"): {
            # issue 15's SIGSEGV: dimensions that overflow a size computation
            "overflowing-dimensions.mat": svhn(1, compressed=False, dims=[2147483647, 2147483647, 3, 2147483647]),
            "overflowing-dimensions-compressed.mat": svhn(1, compressed=True, dims=[65536, 65536, 3, 65536]),
        },
        ("corpus", "npy"): {
            "f4.npy": npy("<f4", [3, 4], floats),
            "f8-fortran.npy": npy("<f8", [2, 3], b"".join(struct.pack("<d", i) for i in range(6)), fortran=True),
            "f2.npy": npy("<f2", [2, 2], struct.pack("<4H", 0x3C00, 0xC000, 0x7C00, 0x0001)),
            "i8.npy": npy("<i8", [3], struct.pack("<3q", 0, 1, 2)),
        },
        ("regressions", "npy"): {
            "huge-shape.npy": npy("<f4", [1 << 40, 1 << 40], floats),
            "fortran-3d-truncated.npy": npy("<f4", [2, 3, 4], floats, fortran=True),
        },
        ("corpus", "safetensors"): {
            "two-tensors.safetensors": safetensors({"w": ("F32", [3, 4], floats[:48]), "b": ("F32", [3], floats[:12])},
                                                   {"format": "pt", "epoch": "3"}),
        },
        ("corpus", "image"): {
            **{name + ".jpg": data for name, data in JPEG_SEEDS.items()},
            "rgb.png": png(6, 5, 3, pattern(90)),
            "gray.png": png(7, 3, 1, pattern(21)),
        },
        ("regressions", "image"): {
            # sides and pixel counts no real photograph has, in otherwise valid headers (issue 15: a
            # 1 x 100,000 PNG asked for gigabytes in the resize)
            "huge-frame.jpg": with_frame_size(JPEG_SEEDS["rgb420"], 65000, 65000),
            "thin-frame.jpg": with_frame_size(JPEG_SEEDS["progressive"], 30000, 16),
            "thin.png": png(1, 100000, 1, bytes(100000)),
            "truncated.jpg": JPEG_SEEDS["rgb420"][:len(JPEG_SEEDS["rgb420"]) * 2 // 3],
            "truncated-cmyk.jpg": JPEG_SEEDS["cmyk"][:500],
        },
        ("corpus", "cifar"): {
            "cifar10-2-records.bin": bytes([3]) + pattern(3072) + bytes([9]) + pattern(3072)[::-1],
            "cifar100-record.bin": bytes([4, 57]) + pattern(3072),
            "class-names.txt": b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
            "kmnist-classmap.csv": "index,codepoint,char\n".encode() + "".join(
                "%d,U+%04X,%s\n" % (i, ord(c), c) for i, c in enumerate("おきすつなはまやれを")).encode(),
        },
        ("corpus", "stl10"): {
            # byte 0: label bytes, byte 1: class-name bytes, then labels, names, images (3 x 96 x 96 each)
            "two-images.bin": bytes([2, 0]) + bytes([1, 10]) + pattern(2 * 3 * 96 * 96),
            "with-names.bin": bytes([1, 55]) + bytes([4]) + b"airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n"
                              + pattern(3 * 96 * 96),
        },
        ("regressions", "safetensors"): {
            # a huge declared shape used to be allocated before the offsets were checked
            "huge-shape.safetensors": safetensors({}, raw_header='{"w":{"dtype":"F32","shape":[10000000000,'
                                                                  '10000000000],"data_offsets":[0,4]}}') + b"\0" * 4,
            "metadata-not-string.safetensors": safetensors({"w": ("F32", [1], floats[:4])}, {"epoch": 3}),
            "negative-shape.safetensors": safetensors({}, raw_header='{"w":{"dtype":"F32","shape":[-1],'
                                                                     '"data_offsets":[0,4]}}') + b"\0" * 4,
        },
    }


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for (kind, harness), contents in files().items():
        folder = os.path.join(root, kind, harness)
        os.makedirs(folder, exist_ok=True)
        for name, data in contents.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print("make_corpus.py: wrote %d files under %s" % (sum(len(c) for c in files().values()), root))


if __name__ == "__main__":
    main()
