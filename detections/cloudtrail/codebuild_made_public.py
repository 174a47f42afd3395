"""A CodeBuild project made public."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule


def _visibility(value: str, error: str | None = None) -> RawRecord:
    return ct("UpdateProjectVisibility", {
        "projectArn": "arn:aws:codebuild:us-east-1:111122223333:project/site-build",
        "projectVisibility": value}, error=error, source="codebuild.amazonaws.com")


@rule(
    id="cloudtrail.codebuild_made_public",
    title="CodeBuild project made public",
    severity="high",
    datasets=("cloudtrail",),
    actions=("UpdateProjectVisibility",),
    mitre=("T1567", "T1552.001"),
    runbook="Anyone can now read the project's build logs and artifacts, which often hold "
            "secrets. Set it private, then rotate whatever the logs printed.",
    tests=(
        Case("made public", fires=True, events=(_visibility("PUBLIC_READ"),)),
        Case("made private", fires=False, events=(_visibility("PRIVATE"),)),
        Case("refused", fires=False, events=(_visibility("PUBLIC_READ", "AccessDenied"),)),
    ),
)
def codebuild_made_public(event: Event) -> Match | None:
    """A successful UpdateProjectVisibility to ``PUBLIC_READ``."""
    request = params(event)
    if event.get("event.outcome") != "success" or request.get(
            "projectVisibility") != "PUBLIC_READ":
        return None
    project = str(request.get("projectArn") or "?").rsplit("/", 1)[-1]
    return Match(dedup=scope(event, project),
                 entity={"type": "codebuild_project", "value": project},
                 title=f"CodeBuild project {project} made public by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, project=project))
