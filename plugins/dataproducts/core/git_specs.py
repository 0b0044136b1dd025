"""The spec files of a git revision, read with git itself (argument lists, never a shell string), and
loaded by the same safe loader as the working tree's files (core/loader.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dataproducts.core import naming
from dataproducts.core.errors import SpecError
from dataproducts.core.loader import SPEC_SUFFIXES, LoadedSpec, load_spec_bytes, max_spec_bytes

DEFAULT_BRANCHES = ("main", "origin/main")
REGULAR_FILE_MODES = {"100644", "100755"}


class GitError(Exception):
    """The revision cannot be read (not a repository, an unknown revision, no git): a usage error."""


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git could not run: {exc}") from None
    if done.returncode != 0:
        raise GitError(done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return done.stdout


def commit_of(root: Path, revision: str) -> str:
    """The commit a revision names (a branch, tag or hash); never an option (a leading '-')."""
    if revision.startswith("-"):
        raise GitError(f"'{revision}' is not a revision")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"'{revision}' is not a commit of the repository at {root}") from None


def path_prefix(root: Path) -> str:
    """Where root is inside its repository ('' at the top, else 'sub/dir/'): what annotations need."""
    return _git(root, "rev-parse", "--show-prefix").decode(errors="surrogateescape").strip()


def default_base(root: Path) -> str:
    """The merge base of HEAD with main (or origin/main)."""
    for branch in DEFAULT_BRANCHES:
        try:
            return _git(root, "merge-base", "HEAD", branch).decode().strip()
        except GitError:
            continue
    raise GitError(f"no merge base of HEAD with {' or '.join(DEFAULT_BRANCHES)} in {root}; name one with --base")


def spec_paths(root: Path, commit: str, specs_dir: str = "product_specs") -> list[str]:
    """product_specs/<domain>/<name>.yaml of the commit (regular files only), relative to root."""
    listing = _git(root, "ls-tree", "-r", "-z", commit, "--", f"{specs_dir}/")
    paths = []
    for item in listing.decode(errors="surrogateescape").split("\0"):
        if not item:
            continue
        meta, path = item.split("\t", 1)
        parts = path.split("/")
        if meta.split()[0] in REGULAR_FILE_MODES and len(parts) == 3 and Path(path).suffix in SPEC_SUFFIXES:
            paths.append(path)
    return sorted(paths)


def load_at(root: Path, commit: str, path: str) -> LoadedSpec:
    """The spec at path (relative to root) as it was in the commit."""
    size = int(_git(root, "cat-file", "-s", f"{commit}:./{path}").decode().strip())
    if size > max_spec_bytes():  # never read more than a spec may hold
        problem = f"is {size:,} bytes at {commit[:12]}, more than the limit of {max_spec_bytes():,} bytes for a spec file"
        return LoadedSpec(naming.product_id_for_file(Path(path)), path, None, (SpecError(path, None, problem, "shrink it"),))
    return load_spec_bytes(_git(root, "show", f"{commit}:./{path}"), path)


def specs_at(root: Path, commit: str) -> dict[str, LoadedSpec]:
    """Every spec of the commit, by product id."""
    return {entry.product_id: entry for entry in (load_at(root, commit, p) for p in spec_paths(root, commit))}
