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
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from sleitp import __version__
from sleitp.errors import ModelError
from sleitp.model.binary.logistic import LogisticFit
from sleitp.model.design import Design
from sleitp.model.predict import TrainedModel

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TRUSTED_SKOPS_TYPES",
    "load_model",
    "save_model",
    "sha256_file",
    "write_manifest",
]

FORMAT = "sleitp-model"
FORMAT_VERSION = 1
KINDS = ("logistic", "logistic-l2", "logistic-prior", "gbm")  # logistic-prior: sleitp.model.binary.prior
MODEL_FILE, GBM_FILE, MANIFEST = "model.json", "gbm.skops", "manifest.json"
# The only types a gbm.skops file may contain beyond skops' own safe defaults (numpy arrays, builtins and
# scikit-learn estimators skops trusts); anything else is refused before loading.
TRUSTED_SKOPS_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _finite(obj) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_finite(v) for v in obj)
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


def save_model(
    model: TrainedModel,
    model_dir: str | Path,
    *,
    extra_files: dict[str, bytes | str] | None = None,
) -> str:
    """Write the model (JSON, and skops for boosting), extra files (card, figures) and the manifest."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    meta = dict(model.meta)
    meta["format"], meta["format_version"] = FORMAT, FORMAT_VERSION
    meta["design"] = model.design.to_json()
    if model.logistic is not None:
        meta["logistic"] = model.logistic.to_json()
    else:
        import skops.io as sio

        (model_dir / GBM_FILE).write_bytes(sio.dumps(list(model.gbm)))
        meta["gbm"] = {"file": GBM_FILE, "bootstrap_models": len(model.gbm) - 1}
    if not _finite(meta):
        raise ModelError("the fitted model has non-finite numbers (separation or too few events); not saved")
    (model_dir / MODEL_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    for name, content in (extra_files or {}).items():
        target = model_dir / name
        if isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)
    return write_manifest(model_dir)


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


def _load_gbm(path: Path) -> list:
    import skops.io as sio
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


def _load_cox(model_dir: Path, meta: dict, mfile: Path):
    from sleitp.model.survival.cox import cox_model_from_meta

    try:
        design = Design.from_json(meta["design"])
        for key in ("trained_on", "synthetic", "n", "events", "created", "sleitp_version"):
            meta["training"][key]  # noqa: B018  presence check
        card = None
        cpath = model_dir / "card.json"
        if cpath.is_file():
            card = json.loads(cpath.read_text())
        model = cox_model_from_meta(meta, design, card)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{mfile}: incompatible or incomplete model ({type(e).__name__}: {e})") from None
    model.source_dir = model_dir
    return model


def load_model(model_dir: str | Path, *, expected_manifest_sha256: str | None = None) -> TrainedModel:
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
    if meta.get("kind") == "cox":  # time-to-event model (sleitp.model.survival.cox), same manifest scheme
        return _load_cox(model_dir, meta, mfile)
    if meta.get("kind") not in KINDS:
        raise ModelError(f"{mfile}: kind {meta.get('kind')!r} is not one of {', '.join(KINDS)}")
    try:
        design = Design.from_json(meta["design"])
        for key in ("name", "outcome", "training", "reference"):
            meta[key]  # noqa: B018  presence check
        for key in ("trained_on", "synthetic", "n", "events", "created", "sleitp_version"):
            meta["training"][key]  # noqa: B018
        logistic = gbm = None
        if meta["kind"] == "gbm":
            gbm = _load_gbm(model_dir / meta["gbm"]["file"])
        else:
            logistic = LogisticFit.from_json(meta["logistic"])
            if list(logistic.columns) != design.columns:
                raise ValueError("coefficient columns differ from the design columns")
            if any(c not in meta["reference"] for c in design.columns):
                raise ValueError("reference values are missing for some columns")
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{mfile}: incompatible or incomplete model ({type(e).__name__}: {e})") from None
    card = None
    cpath = model_dir / "card.json"
    if cpath.is_file():
        try:
            card = json.loads(cpath.read_text())
        except ValueError:
            card = None
    model = TrainedModel(meta, design, logistic=logistic, gbm=gbm, card=card)
    model.source_dir = model_dir
    return model
