"""SAML or OpenID Connect providers, or IAM Identity Center's identity source, changed."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import ACCOUNT, aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule

IAM = ("CreateSAMLProvider", "UpdateSAMLProvider", "DeleteSAMLProvider",
       "CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider",
       "UpdateOpenIDConnectProviderThumbprint", "AddClientIDToOpenIDConnectProvider")
IDENTITY_CENTER = ("CreateExternalIdPConfigurationForDirectory",
                   "UpdateExternalIdPConfigurationForDirectory",
                   "EnableExternalIdPConfigurationForDirectory",
                   "DisableExternalIdPConfigurationForDirectory",
                   "DeleteExternalIdPConfigurationForDirectory", "AssociateDirectory",
                   "DisassociateDirectory")
SSO_SERVICE_ROLE = ":assumed-role/AWSServiceRoleForSSO/"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"


@rule(
    id="cloudtrail.identity_provider_changed",
    title="Identity provider changed",
    severity="high",
    datasets=("cloudtrail",),
    actions=(*IAM, *IDENTITY_CENTER),
    mitre=("T1484.002", "T1606.002"),
    runbook="Whoever controls a trusted identity provider can sign in as anyone who trusts "
            "it. Compare the provider's metadata with your IdP's; revert and review sign-ins "
            "through it since the change.",
    tests=(
        Case("a SAML provider's metadata replaced", fires=True,
             events=(ct("UpdateSAMLProvider", {"sAMLProviderArn": PROVIDER,
                                               "sAMLMetadataDocument": "<md/>"}),)),
        Case("Identity Center's external IdP changed", fires=True,
             events=(ct("UpdateExternalIdPConfigurationForDirectory", {"directoryId": "d-1"},
                        source="sso-directory.amazonaws.com"),)),
        Case("Identity Center's service role keeping its provider", fires=False,
             events=(ct("UpdateSAMLProvider", {"sAMLProviderArn": PROVIDER},
                        identity="AssumedRole", userIdentity={
                            "type": "AssumedRole", "accountId": ACCOUNT,
                            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/"
                                   "AWSServiceRoleForSSO/AWS-SSO"}),)),
        Case("a refused change", fires=False,
             events=(ct("DeleteSAMLProvider", {"sAMLProviderArn": PROVIDER},
                        error="AccessDenied"),)),
    ),
)
def identity_provider_changed(event: Event) -> Match | None:
    """A successful create, update or delete of an IAM SAML or OIDC provider (thumbprints and
    client ids included), or of IAM Identity Center's external identity provider or directory,
    unless made by Identity Center's own service role."""
    if event.get("event.outcome") != "success":
        return None
    identity = (event.get("original") or {}).get("userIdentity") or {}
    if isinstance(identity, dict) and SSO_SERVICE_ROLE in str(identity.get("arn", "")):
        return None
    request = params(event)
    provider = str(request.get("sAMLProviderArn") or request.get("openIDConnectProviderArn")
                   or request.get("name") or request.get("url") or request.get("directoryId")
                   or "?")
    short = provider.rsplit("/", 1)[-1]
    return Match(dedup=scope(event, provider), entity={"type": "aws_resource", "value": provider},
                 title=f"Identity provider {short}: {event['event.action']} by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, provider=provider))
