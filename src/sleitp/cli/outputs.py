"""Output folders of the commands that write many files (`cohort derive`, `train`, `validate --out`).

Outputs never clobber: a folder that exists and is not empty is refused unless ``--overwrite`` is given,
and an output folder is never a source folder or inside it, never the folder a source file lies in, and
never a folder that holds a source (``--overwrite`` there would write over the input). `synth` refuses a
non-empty folder itself.
"""

from __future__ import annotations

from pathlib import Path

from sleitp.errors import OutputFolderError

__all__ = ["OutputFolderError", "check_output_folder"]


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output_folder(out: Path, *, sources: list[Path], overwrite: bool, option: str = "--out") -> None:
    """Refuse ``out`` when it is a file, a non-empty folder (without ``overwrite``), or overlaps a source."""
    target = out.resolve()
    for source in sources:
        src = source.resolve()
        # a folder source: not it, not inside it; a file source: not the folder it lies in
        into_source = _inside(target, src) if src.is_dir() else target == src.parent
        if into_source or _inside(src, target):
            raise OutputFolderError(
                f"{option}: {out} is the input's folder, inside it or holds the input ({source}); "
                "choose a folder outside the input (the input is never written into)")
    if target.exists() and not target.is_dir():
        raise OutputFolderError(f"{option}: {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputFolderError(
            f"{option}: {out} is not empty; choose a new or empty folder, or give --overwrite to replace "
            "the files sleitp writes there")
