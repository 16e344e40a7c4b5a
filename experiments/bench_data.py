"""Load times of the real data sets: first load (decode) and cached load.

    JAXOPT_EDU_DATA=../shared/data python experiments/bench_data.py [--data-dir DIR]

For each data set: `load_dataset` without the cache (decoding everything),
then with the cache twice (the first writes the cache unless one is already
there, the second reads it). Both data sets keep their decoded arrays in a
cache file beside the data (or in the user cache dir when the data folder is
read-only). The user cache dir is a fresh temporary folder unless
--keep-user-cache is given, so a read-only data folder is measured cold.
"""

import argparse
import os
import tempfile
import time


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    parser.add_argument("--keep-user-cache", action="store_true")
    args = parser.parse_args()
    if not args.keep_user_cache:
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench_data_cache_")

    from jaxopt_edu.data import epoch_batches, load_dataset, resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    print(f"data dir: {data_dir}")
    for name in args.datasets:
        _, no_cache = timed(lambda: load_dataset(name, data_dir, download=False, cache=False))
        _, first = timed(lambda: load_dataset(name, data_dir, download=False))
        splits, cached = timed(lambda: load_dataset(name, data_dir, download=False))
        sizes = "/".join(str(split.num_examples) for split in splits[:3])
        print(f"{name:8s} train/validation/test {sizes}: without cache {no_cache:.2f} s, "
              f"first with cache {first:.2f} s, cached {cached:.2f} s")
    _, batching = timed(lambda: [epoch_batches(0, epoch, 60_000, 128) for epoch in range(10)])
    print(f"epoch_batches for 60,000 examples: {batching / 10 * 1e3:.2f} ms per epoch")


if __name__ == "__main__":
    main()
