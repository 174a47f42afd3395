"""``restore-s3-object``: bring back a deleted or overwritten object of a versioned bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

from socbot.playbooks.base import (
    FIELD_SHAPES,
    Plan,
    Playbook,
    PlaybookFailed,
    Result,
    Target,
    aws_call,
    check_field,
)
from socbot.playbooks.registry import register


@register
class RestoreS3Object(Playbook):
    """Restore an object of a versioned bucket: remove the delete markers over it, or copy an
    earlier version (the alert's ``version_id``) back on top.

    Without ``version_id``: if the newest entry of the key is a delete marker, the delete
    markers newer than the newest version are removed, so that version is current again (no
    data is copied). With ``version_id``: that version is copied to become the newest, unless
    the current version already has its content (same ETag). Every call names the alert's
    account as ExpectedBucketOwner. Undo puts a delete marker back, or deletes the copy.
    """

    name = "restore-s3-object"
    description = "Remove the delete marker, or restore an earlier version, of an S3 object"
    required_fields = ("bucket", "object_key", "cloud.region", "cloud.account.id")
    optional_fields = ("version_id",)
    permissions = ("s3:GetBucketVersioning", "s3:ListBucketVersions", "s3:GetObjectVersion",
                   "s3:DeleteObjectVersion", "s3:PutObject", "s3:DeleteObject")
    approvals_required = 1
    undoable = True

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """The key's versions and delete markers, newest first, and what would restore it."""
        s3 = session.client("s3")
        bucket, key = target["bucket"], target["object_key"]
        owner = target.account_id
        versioning = aws_call(s3.get_bucket_versioning, Bucket=bucket,
                              ExpectedBucketOwner=owner).get("Status")
        if versioning not in ("Enabled", "Suspended"):
            raise PlaybookFailed(f"s3://{bucket} has never had versioning on: a deleted object "
                                 "cannot be restored from it")
        entries = self._entries(s3, bucket, key, owner)
        before = {"bucket": bucket, "key": key, "entries": entries[:20]}
        if not entries:
            raise PlaybookFailed(f"s3://{bucket}/{key} has no version to restore")
        wanted = self.optional(target, "version_id")
        if wanted is None:
            markers = []
            for entry in entries:
                if not entry["delete_marker"]:
                    break
                markers.append(entry["VersionId"])
            if not markers:
                return Plan([], f"s3://{bucket}/{key} is not deleted: its newest version is "
                                f"{entries[0]['VersionId']}", before, before)
            if len(markers) == len(entries):
                raise PlaybookFailed(f"s3://{bucket}/{key} has only delete markers; no version "
                                     "to restore")
            return Plan([{"op": "remove_markers", "markers": markers}],
                        f"s3://{bucket}/{key}: remove {len(markers)} delete marker(s), making "
                        f"version {entries[len(markers)]['VersionId']} current", before, None)
        source = next((e for e in entries if e["VersionId"] == wanted), None)
        if source is None or source["delete_marker"]:
            raise PlaybookFailed(f"s3://{bucket}/{key} has no version {wanted}")
        current = entries[0]
        if not current["delete_marker"] and current.get("ETag") == source.get("ETag"):
            return Plan([], f"s3://{bucket}/{key}: the current version already has the content "
                            f"of {wanted}", before, before)
        return Plan([{"op": "copy_version", "version": wanted}],
                    f"s3://{bucket}/{key}: copy version {wanted} back as the newest", before,
                    None)

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Delete the markers, or copy the version; record how to reverse it."""
        s3 = session.client("s3")
        bucket, key, owner = target["bucket"], target["object_key"], target.account_id
        change = plan.changes[0]
        if change["op"] == "remove_markers":
            removed = []
            for marker in change["markers"]:
                aws_call(s3.delete_object, Bucket=bucket, Key=key, VersionId=marker,
                         ExpectedBucketOwner=owner)
                removed.append(marker)
            undo: dict[str, Any] = {"operation": "s3:DeleteObject", "Bucket": bucket,
                                    "Key": key, "removed_delete_markers": removed}
        else:
            copied = aws_call(s3.copy_object, Bucket=bucket, Key=key, CopySource={
                "Bucket": bucket, "Key": key, "VersionId": change["version"]},
                ExpectedBucketOwner=owner, ExpectedSourceBucketOwner=owner)
            undo = {"operation": "s3:DeleteObjectVersion", "Bucket": bucket, "Key": key,
                    "created_version": copied.get("VersionId")}
        after = self._entries(s3, bucket, key, owner)[:20]
        if not after or after[0]["delete_marker"]:
            raise PlaybookFailed(f"s3://{bucket}/{key} is still deleted after the restore")
        return Result(changed=True, summary=plan.summary.replace(": remove ", ": removed ", 1)
                      .replace(": copy ", ": copied ", 1), before=plan.before,
                      after={"bucket": bucket, "key": key, "entries": after}, undo=undo)

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Delete the object again (a new delete marker), or delete the copied version."""
        s3 = session.client("s3")
        # The alert's validated bucket and key, not the stored undo data's copies of them.
        bucket, key, owner = target["bucket"], target["object_key"], target.account_id
        if undo.get("created_version"):
            version = check_field("created_version", undo["created_version"],
                                  FIELD_SHAPES["version_id"])
            aws_call(s3.delete_object, Bucket=bucket, Key=key, VersionId=version,
                     ExpectedBucketOwner=owner)
            return Result(True, f"s3://{bucket}/{key}: deleted the restored copy")
        aws_call(s3.delete_object, Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
        return Result(True, f"s3://{bucket}/{key}: delete marker put back")

    @staticmethod
    def _entries(s3: Any, bucket: str, key: str, owner: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        markers: dict[str, str] = {}
        while True:
            page = aws_call(s3.list_object_versions, Bucket=bucket, Prefix=key,
                            ExpectedBucketOwner=owner, **markers)
            for version in page.get("Versions", []):
                if version["Key"] == key:
                    entries.append({"VersionId": version["VersionId"], "delete_marker": False,
                                    "ETag": version.get("ETag"),
                                    "LastModified": version["LastModified"],
                                    "IsLatest": version.get("IsLatest", False)})
            for marker in page.get("DeleteMarkers", []):
                if marker["Key"] == key:
                    entries.append({"VersionId": marker["VersionId"], "delete_marker": True,
                                    "LastModified": marker["LastModified"],
                                    "IsLatest": marker.get("IsLatest", False)})
            if not page.get("IsTruncated"):
                break
            markers = {"KeyMarker": page["NextKeyMarker"],
                       "VersionIdMarker": page["NextVersionIdMarker"]}
        # Newest first: the latest entry, then by time.
        entries.sort(key=lambda e: (e["IsLatest"], e["LastModified"]), reverse=True)
        for entry in entries:
            modified = entry.pop("LastModified")
            entry["LastModified"] = (modified.isoformat() if hasattr(modified, "isoformat")
                                     else str(modified))
        return entries
