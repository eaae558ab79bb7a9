"""`init DIR`: a new project folder (ticket_assets/project.py), before any config exists."""

from __future__ import annotations

import argparse
import shlex

from ticket_assets.cli.errors import BAD_INPUT, fail
from ticket_assets.project import InitReport, ProjectExistsError, init_project


def handle(args: argparse.Namespace) -> int:
    try:
        report = init_project(args.folder, force=args.force)
    except (ProjectExistsError, OSError) as error:
        return fail(str(error), BAD_INPUT)
    print(_summary(report, args.folder.as_posix()))
    return 0


def _summary(report: InitReport, folder: str) -> str:
    lines = [
        f"{folder}: {len(report.added)} files added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} already current, {len(report.kept)} kept as you changed them"
    ]
    lines += [f"  kept (yours): {path}" for path in report.kept]
    lines += [f"  updated: {path}" for path in report.updated]
    lines.append(f"next: cd {shlex.quote(folder)} && ticket-assets run   (then: ticket-assets ui)")
    return "\n".join(lines)
