"""What the import commands share: the tqdm bar, the printed counts and the report file."""

from pathlib import Path

from django.core.management.base import CommandError
from tqdm import tqdm

from mike.core.imports import ImportFileError, ImportReport, write_report


def run_import(command, *, path: str, errors: str | None, run) -> ImportReport:
    """Call `run(progress)` with a tqdm bar's update, print the counts and write the report
    (beside the file, `FILE.errors.csv`, unless `errors` names a path). A refused file is a
    CommandError with the engine's message."""
    source = Path(path)
    if not source.is_file():
        raise CommandError(f"No such file: {path}")
    bar = tqdm(unit=" rows", file=command.stderr._out, disable=None)
    try:
        report = run(bar.update)
    except ImportFileError as exc:
        raise CommandError(f"{source.name}: {exc}") from exc
    finally:
        bar.close()
    command.stdout.write(report.summary())
    report_path = Path(errors) if errors else source.with_name(source.name + ".errors.csv")
    if report.problems:
        write_report(report, report_path)
        command.stdout.write(f"Report of the rows not imported: {report_path}")
    return report
