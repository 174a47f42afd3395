"""KMS key material imported or deleted: keys whose bytes someone outside AWS holds."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@rule(
    id="cloudtrail.kms_key_material_imported",
    title="KMS key material imported or deleted",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("ImportKeyMaterial", "DeleteImportedKeyMaterial", "CreateKey"),
    mitre=("T1486",),
    runbook="Whoever holds imported key material can make data unreadable by deleting it from "
            "AWS (ransomware without encryption code). Confirm the key's owner and purpose; "
            "re-encrypt data under an AWS-generated key if nobody vouches for it.",
    tests=(
        Case("key material imported", fires=True,
             events=(ct("ImportKeyMaterial", {"keyId": KEY, "expirationModel":
                        "KEY_MATERIAL_DOES_NOT_EXPIRE"}, source="kms.amazonaws.com"),)),
        Case("imported key material deleted (high)", fires=True,
             events=(ct("DeleteImportedKeyMaterial", {"keyId": KEY},
                        source="kms.amazonaws.com"),)),
        Case("a key created for external material", fires=True,
             events=(ct("CreateKey", {"origin": "EXTERNAL", "keySpec": "SYMMETRIC_DEFAULT"},
                        source="kms.amazonaws.com"),)),
        Case("an ordinary key created", fires=False,
             events=(ct("CreateKey", {"keySpec": "SYMMETRIC_DEFAULT"},
                        source="kms.amazonaws.com"),)),
    ),
)
def kms_key_material_imported(event: Event) -> Match | None:
    """A successful ImportKeyMaterial (medium), DeleteImportedKeyMaterial (high), or CreateKey
    with ``origin: EXTERNAL`` (medium)."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "kms.amazonaws.com"):
        return None
    request = params(event)
    action = event["event.action"]
    if action == "CreateKey" and request.get("origin") != "EXTERNAL":
        return None
    key = str(request.get("keyId") or "new key").rsplit("/", 1)[-1]
    what = {"ImportKeyMaterial": "key material imported into",
            "DeleteImportedKeyMaterial": "imported key material deleted from",
            "CreateKey": "key created for outside material:"}[action]
    return Match(dedup=scope(event, key), entity={"type": "kms_key", "value": key},
                 severity="high" if action == "DeleteImportedKeyMaterial" else None,
                 title=f"KMS {what} {key} by {event.get('user.name', '?')}",
                 context=aws_context(event, kms_key_id=key))
