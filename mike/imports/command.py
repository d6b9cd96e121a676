"""What the import commands share: the tqdm bar, the printed counts and the report file."""

from pathlib import Path

from django.core.management.base import CommandError
from tqdm import tqdm

from mike.core.imports import ImportFileError

from .services import report_of, write_report_file


def run_import(command, *, path: str | None, errors: str | None, run):
    """Call `run(progress)` (which imports the file as a job and returns it) with a tqdm bar's
    update, print the counts and write the report (beside the file, `FILE.errors.csv`, unless
    `errors` names a path). A refused file is a CommandError with the engine's message."""
    source = Path(path) if path else None
    if source is not None and not source.is_file():
        raise CommandError(f"No such file: {path}")
    bar = tqdm(unit=" rows", file=command.stderr._out, disable=None)

    def progress(rows: int, total: int | None = None) -> None:
        if total is not None:
            bar.total = total
            bar.refresh()
        bar.update(rows)

    try:
        job = run(progress)
    except ImportFileError as exc:
        raise CommandError(f"{source.name if source else 'The file'}: {exc}") from exc
    finally:
        bar.close()
    if job.status == "failed":
        raise CommandError(f"{job.file_name}: {job.message}")
    report = report_of(job)
    command.stdout.write(f"Import job {job.pk}: {report.summary()}")
    if job.status == "cancelled":
        command.stdout.write("The import was cancelled; the rows above were imported before.")
    if errors:
        report_path = Path(errors)
    elif source is not None:
        report_path = source.with_name(source.name + ".errors.csv")
    else:
        report_path = Path(f"{job.file_name}.errors.csv")
    if report.problems:
        write_report_file(job, report_path)
        command.stdout.write(f"Report of the rows not imported: {report_path}")
    return job
