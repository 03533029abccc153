"""Saving and loading a model without pickle.

MODEL_DIR layout:
- ``model.json``   everything a logistic model is (design: transformations, imputation values, feature
                   order; coefficients and covariance; recalibration; training summary) as plain JSON;
                   for gradient boosting, the same metadata and design;
- ``gbm.skops``    gradient-boosting trees (skops format, loaded with an explicit trust list);
- ``card.json``, ``card.html``, ``*.png``  the model card and its figures;
- ``manifest.json`` SHA-256 of every other file; checked at load, any mismatch is refused.

Why: pickle runs code from the file when it loads; JSON cannot, and skops refuses any type that is
not on the trust list (software.md §5: "for logistic models store coefficients + preprocessing as JSON
(no loader risk at all); pin a SHA-256 of every model file"; HistGradientBoosting needs trusting
``...predictor.TreePredictor``). The checksum in the manifest detects a damaged or edited file; to
protect against someone who can also rewrite the manifest, pass the manifest's own SHA-256 (printed
by ``sleitp train``) as ``expected_manifest_sha256``.

A registry of kinds: each model class registers the ``kind`` names it loads (:func:`register`); the loader
checks the files and hands ``model.json`` to that class (``from_saved``), so a new kind is a new class, not
another branch here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sleitp import __version__
from sleitp.errors import ModelError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TRUSTED_SKOPS_TYPES",
    "kinds",
    "load_model",
    "model_class",
    "register",
    "save_model",
    "sha256_file",
    "write_manifest",
]

FORMAT = "sleitp-model"
FORMAT_VERSION = 1
MODEL_FILE, GBM_FILE, MANIFEST, CARD_FILE = "model.json", "gbm.skops", "manifest.json", "card.json"
# The only types a gbm.skops file may contain beyond skops' own safe defaults (numpy arrays, builtins and
# scikit-learn estimators skops trusts); anything else is refused before loading.
TRUSTED_SKOPS_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
# the provenance every saved model's ``training`` summary must have (sleitp.model.provenance)
TRAINING_KEYS = ("trained_on", "synthetic", "n", "events", "created", "sleitp_version")

_KINDS: dict[str, type] = {}  # kind name (model.json "kind") -> the class that loads it


def register(*names: str) -> Callable[[type], type]:
    """Class decorator: the class loads saved models of these kinds (``cls.from_saved(meta, model_dir)``)."""

    def add(cls: type) -> type:
        for name in names:
            _KINDS[name] = cls
        return cls

    return add


def kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


def model_class(kind: str) -> type:
    """The class registered for ``kind``; ModelError if none is."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ModelError(f"kind {kind!r} is not one of {', '.join(_KINDS)}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def finite(obj) -> bool:
    """No NaN or infinity anywhere in ``obj`` (JSON has no spelling for them)."""
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite(v) for v in obj)
    return True


def write_manifest(model_dir: Path) -> str:
    """Checksum every file of MODEL_DIR into manifest.json; returns the manifest's own SHA-256."""
    files = {
        p.name: sha256_file(p) for p in sorted(model_dir.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sleitp_version": __version__,
        "algorithm": "sha256",
        "files": files,
    }
    path = model_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return sha256_file(path)


def write_model_json(meta: dict[str, Any], model_dir: Path, *, what: str = "model") -> None:
    """model.json: ``meta`` with the format stamp, refused when a number is not finite."""
    meta = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION}
    if not finite(meta):
        if what == "model":
            raise ModelError(
                "the fitted model has non-finite numbers (separation or too few events); not saved"
            )
        raise ModelError(f"the fitted {what} has non-finite numbers; not saved")
    (model_dir / MODEL_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def save_model(model, model_dir: str | Path, *, extra_files: dict[str, bytes | str] | None = None) -> str:
    """Write the model (``model.save``: JSON, and skops for boosting), extra files (card, figures) and the
    manifest; returns the manifest's SHA-256."""
    return model.save(model_dir, extra_files=extra_files)


def write_files(model_dir: Path, files: dict[str, bytes | str] | None) -> None:
    for name, content in (files or {}).items():
        target = model_dir / name
        if isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)


def _verify(model_dir: Path, expected_manifest_sha256: str | None) -> dict:
    mpath = model_dir / MANIFEST
    if not mpath.is_file():
        raise ModelError(f"{model_dir}: no {MANIFEST} (not a sleitp model folder, or an incomplete copy)")
    if expected_manifest_sha256 and sha256_file(mpath) != expected_manifest_sha256.lower():
        raise ModelError(f"{mpath}: SHA-256 differs from the expected {expected_manifest_sha256}; refused")
    try:
        manifest = json.loads(mpath.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{mpath}: not valid JSON ({e}); refused") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{mpath}: not a {FORMAT} manifest; refused")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{mpath}: format version {manifest.get('format_version')!r} is not supported by this "
            f"sleitp {__version__} (expected {FORMAT_VERSION}); retrain or upgrade"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ModelError(f"{mpath}: lists no {MODEL_FILE}; refused")
    for name, digest in files.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise ModelError(f"{mpath}: file name {name!r} is not a plain file name; refused")
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{model_dir}: {name} is listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise ModelError(
                f"{path}: SHA-256 does not match the manifest (file changed or damaged); refused"
            )
    return manifest


def dump_gbm(models: list, path: Path) -> None:
    import skops.io as sio  # lazy: skops (and scikit-learn behind it) only for boosting models

    path.write_bytes(sio.dumps(list(models)))


def load_gbm(path: Path) -> list:
    import skops.io as sio  # lazy: skops and scikit-learn only for boosting models
    from sklearn.ensemble import HistGradientBoostingClassifier

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # noqa: BLE001  a corrupt archive of any kind
        raise ModelError(f"{path}: not a readable skops file ({type(e).__name__}); refused") from None
    extra = sorted(set(untrusted) - set(TRUSTED_SKOPS_TYPES))
    if extra:
        raise ModelError(
            f"{path}: contains types that are not on the trust list ({', '.join(extra)}); refused"
        )
    try:
        obj = sio.load(path, trusted=list(TRUSTED_SKOPS_TYPES))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{path}: cannot be loaded ({type(e).__name__}: {e}); refused") from None
    if not (
        isinstance(obj, list) and obj and all(isinstance(m, HistGradientBoostingClassifier) for m in obj)
    ):
        raise ModelError(
            f"{path}: expected a list of HistGradientBoostingClassifier, found {type(obj).__name__}"
        )
    return obj


def read_card(model_dir: Path, *, strict: bool = False) -> dict | None:
    """card.json of MODEL_DIR as a dict, None when absent (or, unless ``strict``, not valid JSON)."""
    cpath = model_dir / CARD_FILE
    if not cpath.is_file():
        return None
    try:
        return json.loads(cpath.read_text())
    except ValueError:
        if strict:
            raise
        return None


def check_training(meta: dict) -> None:
    """KeyError unless ``meta`` has a ``training`` summary with the provenance every model carries."""
    for key in TRAINING_KEYS:
        meta["training"][key]  # noqa: B018  presence check


def load_model(model_dir: str | Path, *, expected_manifest_sha256: str | None = None):
    """Load MODEL_DIR after checking every checksum; a clear ModelError if anything is off."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: not a directory (expected a folder written by `sleitp train`)")
    _verify(model_dir, expected_manifest_sha256)
    mfile = model_dir / MODEL_FILE
    try:
        meta = json.loads(mfile.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{mfile}: not valid JSON ({e})") from None
    if (
        not isinstance(meta, dict)
        or meta.get("format") != FORMAT
        or meta.get("format_version") != FORMAT_VERSION
    ):
        raise ModelError(f"{mfile}: not a {FORMAT} version {FORMAT_VERSION} model")
    cls = _KINDS.get(meta.get("kind"))
    if cls is None:
        raise ModelError(f"{mfile}: kind {meta.get('kind')!r} is not one of {', '.join(_KINDS)}")
    try:
        model = cls.from_saved(meta, model_dir)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{mfile}: incompatible or incomplete model ({type(e).__name__}: {e})") from None
    model.source_dir = model_dir
    return model
