"""Copies of the exported files next to a lake's data: in its directory, or on S3.

Machines that share a DuckLake should share its exports too, so the export asset copies its
files to `<data_path>/exports/<dataset>/` after writing them locally. S3 goes through boto3,
which reads the standard `AWS_*` variables (credentials, region, `AWS_ENDPOINT_URL`) itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ticket_assets.storage.errors import StoreError
from ticket_assets.storage.lake import redacted

EXPORTS_FOLDER = "exports"


def exports_destination(data_path: str, dataset: str) -> str:
    return f"{data_path.rstrip('/')}/{EXPORTS_FOLDER}/{dataset}/"


def copy_files(files: Sequence[Path], destination: str) -> list[str]:
    """Copy `files` into `destination` (a directory or `s3://bucket/prefix/`), in order (the
    caller puts the dataset card last, so a reader who sees the new card sees the new data);
    returns where each went."""
    if destination.startswith("s3://"):
        return _upload(files, destination)
    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for file in files:
        temporary = folder / f".{file.name}.partial"
        shutil.copyfile(file, temporary)
        temporary.replace(folder / file.name)
        copied.append(str(folder / file.name))
    return copied


def _upload(files: Sequence[Path], destination: str) -> list[str]:
    import boto3  # only exports to object storage need it (about 0.3 s to import)
    import botocore.exceptions

    parts = urlsplit(destination)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    client = boto3.client("s3")
    uploaded = []
    for file in files:
        key = f"{prefix}{file.name}"
        try:
            client.upload_file(str(file), bucket, key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise StoreError(
                f"cannot copy the export to {destination}: {redacted(str(exc))}"
            ) from None
        uploaded.append(f"s3://{bucket}/{key}")
    return uploaded
