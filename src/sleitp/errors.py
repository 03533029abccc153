"""The exception tree of sleitp.

    SleitpError
    ├── RecordError (ValueError)        a patient record is not what the contract says (docs/record.md)
    │   └── InputFileError              the input file itself cannot be used (missing, a directory, not JSON)
    ├── UnitError (ValueError)          a unit is not accepted for a test
    ├── FhirInvalid (ValueError)        a FHIR resource failed validation
    ├── PatientChoiceError (ValueError) FHIR resources do not name one patient
    ├── SourceError (ValueError)        a cohort source (FHIR, OMOP, tables) cannot be read
    │   └── ViewDefinitionError         a SQL on FHIR ViewDefinition is invalid
    ├── FHIRPathSyntaxError (ValueError) an expression is not valid FHIRPath
    ├── EvidenceError (ValueError)      the evidence base files are inconsistent
    ├── ModelError (ValueError)         a saved model is missing, tampered with or incompatible
    ├── SynthError (ValueError)         bad arguments to the synthetic-cohort generator
    ├── SynthFhirError (ValueError)     the synth tables cannot be written as a FHIR export
    ├── OutputFolderError               an output folder would clobber files or the input
    ├── ReportError                     the report could not be written
    └── SettingsError                   the service settings are not usable

Every message names what was wrong, where (record id, list index, field) and what was expected, so
that the command line can print it as one paragraph without a traceback.
"""

from __future__ import annotations


class SleitpError(Exception):
    """Base class of every error sleitp raises on purpose."""


class RecordError(SleitpError, ValueError):
    """A patient record failed validation.

    ``problems`` holds one line a problem:
    ``labs[0].unit: 'mmol' is not a unit for c3 (expected g/L or mg/dL)``.
    """

    def __init__(self, record_id: str | None, problems: list[str], *, source: str | None = None):
        self.record_id = record_id
        self.problems = list(problems)
        self.source = source
        where = f"record {record_id!r}" if record_id else "record (no id)"
        if source:
            where += f" in {source}"
        super().__init__(f"{where}: " + "; ".join(self.problems))


class InputFileError(RecordError):
    """A file given as input cannot be read as JSON: it is missing, a directory, unreadable, not UTF-8 or
    not valid JSON. The message names the file, not a record: ``x.json: is a directory, not a file``.
    A subclass of RecordError, so every face that answers a bad record answers this too."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.record_id = None
        self.problems = [f"{self.path}: {problem}"]
        self.source = self.path
        Exception.__init__(self, self.problems[0])


class SourceError(SleitpError, ValueError):
    """A cohort or FHIR source could not be read."""


class EvidenceError(SleitpError, ValueError):
    """The evidence base is inconsistent (a missing reference, a bad field)."""


class ModelError(SleitpError, ValueError):
    """A saved prediction model cannot be used (missing, tampered, incompatible)."""


class UnitError(SleitpError, ValueError):
    """A unit is not accepted for a test (message says which units are)."""


class FhirInvalid(SleitpError, ValueError):
    """A resource failed FHIR validation; ``problems`` are "field: what is wrong" lines."""

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


class PatientChoiceError(SleitpError, ValueError):
    """The resources do not say which single patient they belong to."""


class FHIRPathSyntaxError(SleitpError, ValueError):
    """The expression is not valid FHIRPath (the message names the offset and the token)."""


class ViewDefinitionError(SourceError):
    """The ViewDefinition is invalid (the message names the part of the view at fault)."""


class SynthError(SleitpError, ValueError):
    """Bad arguments to the generator (patients, seed, output directory)."""


class SynthFhirError(SleitpError, ValueError):
    """The tables cannot be written as a FHIR export (what is wrong, in which file)."""


class OutputFolderError(SleitpError):
    """An output folder that would clobber existing files or the input."""


class ReportError(SleitpError):
    """The report could not be written (a path problem, not a clinical one)."""


class SettingsError(SleitpError):
    """The service settings are not usable (named field, what was expected)."""
