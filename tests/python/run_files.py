"""Writing the files of a hand-made run or grid folder, for the tests of the tools that read them."""
import json
import os


def write(path, obj):
    """obj as JSON at path, or one JSON line per item when path ends in .jsonl; creates the folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if path.endswith(".jsonl"):
            f.write("".join(json.dumps(l) + "\n" for l in obj))
        else:
            json.dump(obj, f)
