"""The oracle of scripts/bench-features: PyDriller computes the same per-commit metrics (files
changed, lines added and deleted against the first parent) over the commits the extractor's builds
built, sums them per build, and compares its sums with the extractor's. Never part of the product.

    python bench-features-pydriller.py DIR    (DIR as written by bench-features generate + extract)
"""
import json
import resource
import sys
import time

from pydriller import Repository

directory = sys.argv[1]
git_path = open(directory + "/git-path").read().strip()
builds = json.load(open(directory + "/built-commits.json"))
wanted = sorted({sha for build in builds.values() for sha in build["commits"]})

start = time.perf_counter()
per_commit = {}
for commit in Repository(git_path, only_commits=wanted).traverse_commits():
    files = commit.modified_files
    per_commit[commit.hash] = (
        sum(f.added_lines for f in files),
        sum(f.deleted_lines for f in files),
        len(files),
        commit.merge,
    )
sums = {}
for run, build in builds.items():
    added = sum(per_commit.get(sha, (0, 0, 0, False))[0] for sha in build["commits"])
    deleted = sum(per_commit.get(sha, (0, 0, 0, False))[1] for sha in build["commits"])
    sums[run] = (added, deleted)
elapsed = time.perf_counter() - start

peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
merges = {sha for sha, stats in per_commit.items() if stats[3]}
agree = sum(1 for run, build in builds.items() if sums[run] == (build["added"], build["deleted"]))
with_merge = sum(1 for build in builds.values() if any(sha in merges for sha in build["commits"]))
# PyDriller walks the branches: a commit no branch reaches (a fork pull request's head, only under
# refs/pull/N/head) is never visited, and its build's sums stay 0 here.
unreached = sum(1 for build in builds.values() if any(sha not in per_commit for sha in build["commits"]))
print(f"pydriller: {len(builds)} builds ({len(per_commit)} commits) in {elapsed:.2f} s = {len(builds) / elapsed:.0f} builds/s; peak RSS {peak_mb:.1f} MB")
print(f"line sums agree with the extractor for {agree} of {len(builds)} builds ({with_merge} builds contain a merge commit, whose diff PyDriller reads differently;"
      f" {unreached} built a commit no branch reaches, which PyDriller does not visit)")
