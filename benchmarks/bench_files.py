#!/usr/bin/env python3
"""File.copy_to of a large file local -> S3 -> local, against plain boto3 transfers.

    python3 benchmarks/bench_files.py [--size-mib 1024] [--repeat 3] [--scratch DIR]

Starts SeaweedFS (`weed mini`, as the tests do) on 127.0.0.1 and writes a file of
random bytes. Each measurement runs in a fresh child process, which reports its
wall time, its peak RSS and how far RSS moved while the bytes were moving
(sampled every 50 ms after the imports):

  redun copy_to up / down     File(local).copy_to(File(s3)) and back
  boto3 upload / download     client.upload_file / download_file (default TransferConfig),
                              the same transfer `aws s3 cp` makes
  redun stream up / down      File.open('rb') -> File.open('wb') in 1 MiB reads: our own
                              streams (multipart writer, ranged reader)

Prints medians (MB/s, peak RSS, RSS growth during the copy) and the copy_to / boto3
time ratio. The machine is shared: note `uptime` beside the figures.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

CHILD = r'''
import json, os, resource, sys, threading, time
mode, src, dest = sys.argv[1:4]
import boto3
from redun.file import File
samples = []
stop = threading.Event()
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

def sample():
    while not stop.is_set():
        samples.append(rss())
        time.sleep(0.05)

client = boto3.client("s3")
client.list_buckets()  # connect and load everything before measuring
File(dest).filesystem; File(src).filesystem
start_rss = rss()
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
if mode == "copy_to":
    File(src).copy_to(File(dest))
elif mode == "boto3":
    if src.startswith("s3://"):
        bucket, key = src[5:].split("/", 1)
        client.download_file(bucket, key, dest)
    else:
        bucket, key = dest[5:].split("/", 1)
        client.upload_file(src, bucket, key)
elif mode == "stream":
    with File(src).open("rb") as infile, File(dest).open("wb") as outfile:
        while True:
            chunk = infile.read(1 << 20)
            if not chunk:
                break
            outfile.write(chunk)
wall = time.perf_counter() - t0
stop.set()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "peak_mb": peak, "growth_mb": (max(samples + [rss()]) - start_rss) / 2**20}))
'''


def child(mode, src, dest, env):
    p = subprocess.run([sys.executable, "-c", CHILD, mode, src, dest], env=env, capture_output=True,
                       text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"{mode} {src} -> {dest} failed:\n{p.stderr}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scratch", default=None, help="directory for the file and SeaweedFS data (default: a temp dir)")
    args = ap.parse_args()
    from conftest_s3 import BUCKET, running_seaweed

    scratch = tempfile.mkdtemp(prefix="bench-files-", dir=args.scratch)
    src = os.path.join(scratch, "big.bin")
    with open(src, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(1 << 20))
    size_mb = args.size_mib * (1 << 20) / 1e6
    print(f"file: {args.size_mib} MiB; load: {os.getloadavg()[0]:.2f}", flush=True)
    weed_dir = os.path.join(scratch, "weed")
    os.makedirs(weed_dir)
    rows = {}
    with running_seaweed(weed_dir) as endpoint:
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="redun",
                   AWS_SECRET_ACCESS_KEY="redun", AWS_DEFAULT_REGION="us-east-1")
        for rep in range(args.repeat):
            for mode in ("copy_to", "boto3", "stream"):
                key = f"s3://{BUCKET}/bench-{uuid.uuid4().hex[:8]}.bin"
                back = os.path.join(scratch, f"back-{mode}.bin")
                for direction, (a, b) in (("up", (src, key)), ("down", (key, back))):
                    r = child(mode, a, b, env)
                    rows.setdefault((mode, direction), []).append(r)
                    print(f"  {mode:8s} {direction:4s} {size_mb / r['wall']:7.1f} MB/s  peak {r['peak_mb']:6.0f} MB"
                          f"  growth {r['growth_mb']:6.1f} MB  load {os.getloadavg()[0]:.2f}", flush=True)
                if os.path.getsize(back) != os.path.getsize(src):
                    raise SystemExit(f"{mode}: size mismatch after the round trip")
                os.remove(back)
                subprocess.run([sys.executable, "-c", "import boto3,sys; b,k=sys.argv[1][5:].split('/',1); "
                                "boto3.client('s3').delete_object(Bucket=b, Key=k)", key], env=env, check=True)
    print(f"\nmedians of {args.repeat} ({args.size_mib} MiB; load at end {os.getloadavg()[0]:.2f}):")
    print("| mode | direction | MB/s | s | peak RSS MB | RSS growth during copy MB |")
    print("|---|---|---|---|---|---|")
    med = {}
    for (mode, direction), rs in rows.items():
        wall = statistics.median(r["wall"] for r in rs)
        med[(mode, direction)] = wall
        print(f"| {mode} | {direction} | {size_mb / wall:.0f} | {wall:.1f} | "
              f"{statistics.median(r['peak_mb'] for r in rs):.0f} | {statistics.median(r['growth_mb'] for r in rs):.0f} |")
    for direction in ("up", "down"):
        print(f"copy_to / boto3 time, {direction}: {med[('copy_to', direction)] / med[('boto3', direction)]:.2f}; "
              f"stream / boto3: {med[('stream', direction)] / med[('boto3', direction)]:.2f}")
    os.remove(src)


if __name__ == "__main__":
    main()
