"""Splitting a numbered job (faces 0 .. N-1) into shards that separate processes or
machines run, and checking that finished shards cover the job exactly once.

`--shard i/n` (0 <= i < n) takes a contiguous run of whole batches: shard i holds
batches i * B // n up to (i + 1) * B // n of the job's B batches. Face k is then
drawn in the same batch, beside the same faces, as in an unsharded run with the
same batch size, so it is the same face bit for bit. A shard writes into
<out>/shards/<i>-of-<n>/, its meta.json saying which faces it holds (start,
stop); `--merge` checks the shards and writes <out> itself, the folder the next
step reads.
"""
import dataclasses
import os
import shutil

from faceinv import files
from faceinv.errors import InputError

SHARDS, META = "shards", "meta.json"


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self):
        return f"{self.index}/{self.count}"

    def range(self, total, batch_size):
        """(start, stop) of this shard's faces among `total`, on batch boundaries."""
        batches = -(-total // batch_size)
        if self.count > batches:
            raise InputError(f"--shard {self}: {total} faces make {batches} batches of {batch_size}, "
                             f"too few for {self.count} shards")
        return (min(self.index * batches // self.count * batch_size, total),
                min((self.index + 1) * batches // self.count * batch_size, total))

    def folder(self, out):
        return os.path.join(out, SHARDS, f"{self.index}-of-{self.count}")


def parse(text):
    """'i/n' -> Shard, '' -> None (the whole job)."""
    if not text:
        return None
    index, _, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        raise InputError(f"--shard {text}: give i/n, shard i (from 0) of n, e.g. 0/4") from None
    if not 0 <= shard.index < shard.count:
        raise InputError(f"--shard {text}: the shard index must be in 0..n-1 (0..{shard.count - 1})"
                         if shard.count > 0 else f"--shard {text}: the number of shards must be positive")
    return shard


def check_request(shard, merge):
    if shard and merge:
        raise InputError("give --shard (write one shard) or --merge (gather the shards), not both")


def finished(out, expected, total):
    """[(folder, meta)] of the shards under <out>/shards, in order, checked to hold the job
    `expected` describes (meta key -> value), to be finished, and to cover faces
    0 .. total - 1 exactly once. Raises InputError naming the first problem."""
    root = os.path.join(out, SHARDS)
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if not names:
        raise InputError(f"{root} holds no shards: run the command with --shard i/n for each i first")
    parts = []
    for name in names:
        folder = os.path.join(root, name)
        if not os.path.exists(os.path.join(folder, META)):
            raise InputError(f"{folder} is not a shard (no {META})")
        meta = files.load_json(os.path.join(folder, META))
        for key, value in expected.items():
            if meta.get(key) != value:
                raise InputError(f"{folder} is a shard of another job ({key}={meta.get(key)!r}, not "
                                 f"{value!r}); move it out of {root}")
        if not meta.get("complete"):
            raise InputError(f"{folder} is unfinished: rerun its command (--shard {meta.get('shard')})")
        parts.append((folder, meta))
    parts.sort(key=lambda part: (part[1]["start"], part[1]["stop"]))
    end, previous = 0, None
    for folder, meta in parts:
        if meta["start"] < end:
            raise InputError(f"shards {previous} and {folder} overlap (faces {meta['start']}.."
                             f"{min(end, meta['stop']) - 1}): keep the shards of one --shard i/n split")
        if meta["start"] > end:
            raise InputError(f"faces {end}..{meta['start'] - 1} are in no shard: run the missing --shard first")
        end, previous = meta["stop"], folder
    if end < total:
        raise InputError(f"faces {end}..{total - 1} are in no shard: run the missing --shard first")
    return parts


def remove(out):
    """Drop <out>/shards once the merged folder is written."""
    shutil.rmtree(os.path.join(out, SHARDS), ignore_errors=True)
