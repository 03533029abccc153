"""The command line as a user meets it: exit codes, JSON on stdout, errors without tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED, SPEC_EXAMPLES

SLEITP = [sys.executable, "-m", "sleitp"]


def run(*args, **kw):
    return subprocess.run([*SLEITP, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          **kw)


def test_help_lists_the_commands():
    p = run("--help")
    assert p.returncode == 0
    for cmd in ("score", "assess", "schema", "synth", "cohort", "train", "validate", "serve"):
        assert cmd in p.stdout, cmd


def test_schema_prints_json_schema():
    p = run("schema")
    assert p.returncode == 0
    assert json.loads(p.stdout)["title"].startswith("sleitp patient record")


@pytest.mark.parametrize("content,mentions", [
    ("{not json", ["not valid JSON", "line 1"]),
    (json.dumps({"id": "X", "labs": [{"date": "2024-01-01", "test": "c3", "value": 0.5, "unit": "mmol"}]}),
     ["'X'", "labs[0].unit", "c3"]),
    (json.dumps({"id": "X",
                 "labs": [{"date": "2024-01-01", "test": "platelets", "value": -4, "unit": "10^9/L"}]}),
     ["labs[0].value", "platelets"]),
    (json.dumps({"labs": []}), ["id", "required"]),
    (json.dumps({"id": "X",
                 "labs": [{"date": "01/02/2024", "test": "platelets", "value": 4, "unit": "10^9/L"}]}),
     ["labs[0].date", "YYYY-MM-DD"]),
    (json.dumps({"id": "X", "labs": [{"date": "2024-01-01", "test": "plt", "value": 4, "unit": "10^9/L"}]}),
     ["unknown test 'plt'"]),
])
def test_bad_input_is_one_clear_paragraph(tmp_path, content, mentions):
    f = tmp_path / "bad.json"
    f.write_text(content)
    for command in ("score", "assess"):
        p = run(command, f, "--json")
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr
        assert p.stdout == ""
        for m in mentions:
            assert m in p.stderr, (m, p.stderr)


def test_missing_file_and_bad_date_option(tmp_path):
    p = run("score", tmp_path / "nope.json")
    assert p.returncode == 2 and "file not found" in p.stderr and "Traceback" not in p.stderr
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json", "--at", "yesterday")
    assert p.returncode == 2 and "--at" in p.stderr and "Traceback" not in p.stderr


def test_score_json_follows_the_contract():
    p = run("score", SPEC_EXAMPLES / "iwg_response.json", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("patient_id", "assessment_date", "platelets", "itp", "sledai_2k", "eular_acr_2019",
                "slicc_2012", "bleeding", "glucocorticoids", "responses"):
        assert key in out
    assert out["responses"][0]["category"] == "R"


def test_score_tables_are_readable():
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json")
    assert p.returncode == 0, p.stderr
    assert "SLEDAI-2K = 7" in p.stdout and "EX-1" in p.stdout


def test_score_at_an_earlier_date_ignores_later_findings():
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json", "--at", "2024-01-15", "--json")
    out = json.loads(p.stdout)
    assert out["assessment_date"] == "2024-01-15" and out["sledai_2k"]["score"] == 0


def test_the_public_contract_passes():
    p = subprocess.run([str(SHARED / "checks" / "contract"), str(SPEC_EXAMPLES), "--sleitp",
                        str(Path(sys.executable).parent / "sleitp")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.stdout.strip().endswith(" 0 failed"), p.stdout


def test_score_and_assess_on_a_fhir_bundle_show_the_mapping_report():
    bundle = SHARED / "data" / "fhir-r4-official" / "Bundle-101.json"
    for command in ("score", "assess"):
        p = run(command, bundle, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["patient_id"] == "pat2"
        assert out["platelets"]["latest"] == 444.0 and out["platelets"]["latest_date"] == "2011-03-04"
        # nothing dropped unseen: the 12 CBC results outside the vocabulary are reported
        unmapped = json.dumps(out["fhir_mapping"]["unmapped"])
        assert "LOINC code not in the sleitp vocabulary" in unmapped
    p = run("score", bundle)
    assert p.returncode == 0 and "FHIR mapping" in p.stdout and "not mapped" in p.stdout


def test_a_record_that_is_not_a_patient_is_refused(tmp_path):
    f = tmp_path / "list.json"
    f.write_text("[1, 2]")
    p = run("score", f)
    assert p.returncode == 2 and "expected a JSON object" in p.stderr and "Traceback" not in p.stderr


# -- usage mistakes: Click's usage message or one line, exit 2, never a traceback (issue 15 item 2) --------
def run_main(monkeypatch, capsys, *args):
    """``sleitp ARGS`` in this process (fast): (exit status, stdout, stderr)."""
    from sleitp.cli import main

    monkeypatch.setattr(sys, "argv", ["sleitp", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


EVERY_COMMAND = {  # command -> a bad value for one of its options or arguments
    ("score",): ["x.json", "--at", "2024-13-45"],
    ("schema",): None,
    ("assess",): ["x.json", "--at", "tomorrow"],
    ("synth",): ["--patients", "abc", "--seed", "1", "--out", "o"],
    ("train",): ["d", "--out", "o", "--bootstrap", "abc"],
    ("validate",): ["m", "d", "--recalibrate", "sideways"],
    ("serve",): ["--port", "abc"],
    ("cohort", "derive"): ["d", "--out", "o", "--backend", "excel"],
    ("cohort", "table1"): ["no-such-folder"],
    ("cohort", "km"): ["no-such-folder", "--by", "line"],
    ("cohort", "associations"): ["no-such-folder"],
    ("cohort", "cif"): ["no-such-folder", "--by", "line"],
    ("cohort", "landmarks"): ["src", "no-such-folder", "--days", "a,b"],
    ("predict",): ["m", "d", "--out", "scores.txt"],
    ("fhir", "view"): ["view.json", "src", "--out", "o.json", "--backend", "excel"],
}


def _commands():
    import typer.main

    from sleitp.cli import app

    def walk(c, path):
        if hasattr(c, "commands"):
            for name, sub in c.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, c

    return dict(walk(typer.main.get_command(app), ()))


def test_the_usage_test_covers_every_command():
    assert set(_commands()) == set(EVERY_COMMAND)


@pytest.mark.parametrize("command", sorted(EVERY_COMMAND), ids=" ".join)
def test_every_command_refuses_a_wrong_option_a_missing_argument_and_a_bad_value(monkeypatch, capsys,
                                                                                  command):
    code, out, err = run_main(monkeypatch, capsys, *command, "--no-such-option")
    assert code == 2 and "Traceback" not in err and "No such option" in err, err
    required = [p for p in _commands()[command].params if getattr(p, "required", False)]
    if required:
        code, out, err = run_main(monkeypatch, capsys, *command)
        assert code == 2 and "Traceback" not in err and "Missing" in err, err
    bad = EVERY_COMMAND[command]
    if bad is not None:
        code, out, err = run_main(monkeypatch, capsys, *command, *bad)
        assert code == 2 and "Traceback" not in err, err
        assert err.strip() and out == ""


def test_an_unknown_command_is_a_usage_error_with_the_closest_name(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "scroe")
    assert code == 2 and "No such command 'scroe'" in err and "score" in err and "Traceback" not in err


def test_version_prints_the_package_version():
    from importlib.metadata import version

    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"sleitp {version('sleitp')}"


def test_serve_help_names_every_environment_variable():
    from sleitp.service.settings import _ENV_FIELDS

    p = run("serve", "--help", env={**__import__("os").environ, "COLUMNS": "200"})
    assert p.returncode == 0
    for name in (*_ENV_FIELDS, "SLEITP_SETTINGS"):
        assert name in p.stdout, name


def test_serve_refuses_a_short_token_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("SLEITP_API_TOKENS", "secret")
    code, out, err = run_main(monkeypatch, capsys, "serve", "--port", "8765")
    assert code == 2 and "at least 16 characters" in err and "Traceback" not in err


def test_the_base_url_defaults_to_the_address_served_on():
    from sleitp.cli.service import local_base_url

    assert local_base_url("127.0.0.1", 9001) == "http://127.0.0.1:9001"
    assert local_base_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert local_base_url("::1", 8080) == "http://[::1]:8080"


# -- outputs never clobber (item 7) ------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("cohort", "derive", "{src}", "--out", "{out}"),
    ("train", "{src}", "--out", "{out}"),
    ("validate", "{src}", "{src}", "--recalibrate", "intercept", "--out", "{out}"),
])
def test_a_non_empty_output_folder_is_refused(monkeypatch, capsys, tmp_path, args):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_main(monkeypatch, capsys, *(a.format(src=src, out=out) for a in args))
    assert code == 2 and "is not empty" in err and "--overwrite" in err, err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("args", [
    ("cohort", "derive", "{src}", "--out", "{src}", "--overwrite"),
    ("cohort", "derive", "{src}", "--out", "{src}/derived", "--overwrite"),
    ("train", "{src}", "--out", "{src}", "--overwrite"),
    ("cohort", "derive", "{src}/records.jsonl", "--out", "{src}", "--overwrite"),
])
def test_the_source_folder_is_never_written_into(monkeypatch, capsys, tmp_path, args):
    src = tmp_path / "src"
    src.mkdir()
    (src / "records.jsonl").write_text("")
    code, _, err = run_main(monkeypatch, capsys, *(a.format(src=src) for a in args))
    assert code == 2 and "input" in err, err
    assert sorted(p.name for p in src.iterdir()) == ["records.jsonl"]


# -- terminal output that fits (item 6) --------------------------------------------------------------------
def test_score_tables_keep_dates_and_agents_whole_at_80_columns_when_piped():
    import os

    p = run("score", ROOT / "examples" / "07_multiply_relapsed_hepatitis_b.json",
            env={**os.environ, "COLUMNS": "80"})
    assert p.returncode == 0, p.stderr
    assert "…" not in p.stdout
    assert max(len(line) for line in p.stdout.splitlines()) <= 80
    for whole in ("dexamethasone", "azathioprine", "eltrombopag", "2021-05-21", "2023-09-01"):
        assert whole in p.stdout, whole


def test_an_assessment_date_in_the_future_is_refused(tmp_path):
    f = tmp_path / "future.json"
    f.write_text(json.dumps({"id": "F1", "assessment_date": "2999-01-01", "sle_diagnosis_date": "2020-01-01",
                             "labs": [{"date": "2024-01-01", "test": "platelets", "value": 40,
                                       "unit": "10^9/L"}]}))
    for command in ("score", "assess"):
        p = run(command, f)
        assert p.returncode == 2 and "assessment_date: 2999-01-01 is in the future" in p.stderr, p.stderr
    p = run("score", SPEC_EXAMPLES / "sledai_basic.json", "--at", "2999-01-01")
    assert p.returncode == 2 and "--at: assessment_date: 2999-01-01" in p.stderr


# -- the README works verbatim (item 9) ---------------------------------------------------------------------
def _readme_commands() -> list[str]:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # a command continued on the next line (trailing backslash)
        out += [line[2:].split("  #", 1)[0].strip() for line in block.splitlines() if line.startswith("$ ")]
    return out


def _sleitp_args(command: str) -> tuple[dict, list[str]]:
    import shlex

    words = shlex.split(command)
    env = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    assert words[0] in (".venv/bin/sleitp", "sleitp"), command
    return env, words[1:]


# commands that run in a test (one patient, no earlier step needed); the others are checked against --help
RUNNABLE = ("score", "assess", "schema", "--version")


def test_every_readme_command_and_option_exists():
    commands = _readme_commands()
    assert len(commands) >= 15
    for command in commands:
        _, args = _sleitp_args(command)
        path = args[:2] if args[0] == "cohort" else ([] if args[0].startswith("-") else args[:1])
        p = run(*path, "--help", env={**__import__("os").environ, "COLUMNS": "200"})
        assert p.returncode == 0, (command, p.stderr)
        for opt in (a for a in args if a.startswith("--")):
            assert opt in p.stdout or opt == "--version", (command, opt)


def test_the_readme_one_patient_commands_run_verbatim(tmp_path):
    import os

    (tmp_path / "examples").symlink_to(ROOT / "examples")
    ran = 0
    for command in _readme_commands():
        env, args = _sleitp_args(command)
        files = [a for a in args if a.endswith(".json") and not a.startswith("-")]
        if args[0] not in RUNNABLE or any(not (tmp_path / f).exists() for f in files[:1]):
            continue
        if "--model" in args:
            continue  # needs a trained model (make demo)
        p = subprocess.run([*SLEITP, *args], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300, env={**os.environ, **env})
        assert p.returncode == 0, (command, p.stderr)
        ran += 1
    assert ran >= 4
    assert (tmp_path / "report.html").stat().st_size > 0 and (tmp_path / "report.pdf").stat().st_size > 0
