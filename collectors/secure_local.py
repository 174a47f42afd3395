"""sudo, su and shadow-utils (useradd, groupadd, usermod, userdel, groupdel, passwd) lines.

``event.action`` values (U user, R target user, T tty):

``sudo`` success / failure
    ``U : [user NOT in sudoers ; |N incorrect password attempts ; ]TTY=T ; PWD=D ; USER=R ;
    COMMAND=C``
``su`` success / failure
    ``[FAILED SU ](to R) U on T``, ``[BAD SU ]U to R on T``, ``Successful|FAILED su for R by U``,
    ``+|- T U:R``, ``failed: T changing from U to R``
``user_created`` success / failure (useradd; ``user.target.*``, ``system.auth.useradd.*``)
    ``new user: name=N, UID=I, GID=G, home=H, shell=S[, from=T]``,
    ``failed adding user 'N', <reason>``
``group_created`` (groupadd)
    ``new group: name=N, GID=G``, ``group added to /etc/group: name=N, GID=G``
``user_group_added`` (useradd, usermod, gpasswd)
    ``add 'N' to [shadow ]group 'G'``
``user_modified`` (usermod)
    ``change user 'N' <what> from 'A' to 'B'``, ``change user name 'A' to 'B'``,
    ``lock|unlock user 'N' password``
``user_deleted`` / ``group_deleted`` (userdel, groupdel)
    ``delete user 'N'``, ``group 'G' removed``
``password_changed`` (passwd)
    ``pam_unix(passwd:chauthtok): password changed for N``, ``password for 'N' changed by 'U'``

sudo's PWD and COMMAND are both free text: where they hold sudo's own separators the split is
ambiguous and the fields that depend on it are left out (``ambiguous_fields``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from socbot.collectors.secure_common import Fields, MessageRule, ambiguous

__all__ = ["BY_PROGRAM"]

_PATTERNS: dict[str, re.Pattern[str]] = {
    # sudo: "  alice : [error ; ]TTY=pts/0 ; PWD=/home/a ; USER=root ; [GROUP=g ; ][TSID=x ; ]
    # [ENV=... ; ]COMMAND=/bin/ls". PWD and COMMAND are both free text: see _sudo.
    "sudo": re.compile(
        r" *(?P<user>[^ ]+) : (?:(?P<error>[^;]+?) ; )?TTY=(?P<tty>[^ ]+) ; PWD=(?P<pwd>.*)"
        r" ; USER=(?P<runas>[^ ]+) ;(?: GROUP=[^ ]+ ;)?(?: TSID=[^ ]+ ;)?(?: ENV=[^;]* ;)?"
        r" COMMAND=(?P<command>.*)"),
    "su_util_linux": re.compile(
        r"(?P<failed>FAILED SU )?\(to (?P<target>[^ ()]+)\) (?P<user>[^ ]+) on (?P<tty>[^ ]+)"),
    "su_bsd": re.compile(
        r"(?P<failed>BAD SU )?(?P<user>[^ ]+) to (?P<target>[^ ]+) on (?P<tty>[^ ]+)"),
    "su_shadow": re.compile(
        r"(?P<result>Successful|FAILED) su for (?P<target>[^ ]+) by (?P<user>[^ ]+)"),
    "su_sulog": re.compile(r"(?P<sign>[+-]) (?P<tty>[^ ]+) (?P<user>[^ :]+):(?P<target>[^ ]+)"),
    "su_aix": re.compile(
        r"(?P<failed>failed): (?P<tty>[^ ]+) changing from (?P<user>[^ ]+) to (?P<target>[^ ]+)"),
    # shadow-utils (useradd, groupadd, usermod, userdel, groupdel, passwd) and pam_unix.
    "useradd": re.compile(
        r"new user: name=(?P<name>[^ ,]+), UID=(?P<uid>\d+), GID=(?P<gid>\d+), "
        r"home=(?P<home>[^,]*), shell=(?P<shell>[^,]*)(?:, from=(?P<from>[^ ,]*))?"),
    "useradd_failed": re.compile(r"failed adding user '(?P<name>[^']*)', (?P<reason>.*)"),
    "groupadd": re.compile(
        r"(?:new group|group added to /etc/group): name=(?P<name>[^ ,]+), GID=(?P<gid>\d+)"
        r"(?:, from=(?P<from>[^ ,]*))?"),
    "group_member": re.compile(
        r"add '(?P<name>[^']+)' to (?P<shadow>shadow )?group '(?P<group>[^']+)'"
        r"(?:, from=(?P<from>[^ ,]*))?"),
    "usermod": re.compile(
        r"(?:change user '(?P<name>[^']+)' (?P<what>[a-z]+) from '(?P<old>[^']*)' to "
        r"'(?P<new>[^']*)'|change user name '(?P<old_name>[^']+)' to '(?P<new_name>[^']+)'|"
        r"(?P<lock>lock|unlock) user '(?P<locked>[^']+)' password)(?:, from=(?P<from>[^ ,]*))?"),
    "userdel": re.compile(r"delete user '(?P<name>[^']+)'(?:, from=(?P<from>[^ ,]*))?"),
    "groupdel": re.compile(
        r"(?:group '(?P<name>[^']+)' removed|remove group '(?P<name2>[^']+)')"
        r"(?: from /etc/group)?(?:, from=(?P<from>[^ ,]*))?"),
    "passwd": re.compile(
        r"(?:pam_unix\(passwd:chauthtok\): password changed for (?P<name>[^ ]+)|"
        r"password for '(?P<name2>[^']+)' changed by '(?P<by>[^']+)')"),
}


def _sudo(m: re.Match[str]) -> Fields:
    error = m["error"]
    fields: Fields = {
        "event.action": "sudo",
        "event.outcome": "failure" if error else "success",
        "user.name": m["user"],
        "system.auth.sudo.tty": m["tty"],
    }
    if error:
        fields["system.auth.sudo.error"] = error
    if m.string.count(" ; USER=") > 1 or m.string.count(" ; COMMAND=") > 1:
        # PWD (a directory name) or COMMAND (arguments) holds sudo's own separators, so
        # which USER= is sudo's cannot be known; leave out what depends on it.
        return ambiguous(fields)
    fields.update({
        "system.auth.sudo.pwd": m["pwd"],
        "system.auth.sudo.user": m["runas"],
        "user.effective.name": m["runas"],
        "system.auth.sudo.command": m["command"],
    })
    return fields


def _su(m: re.Match[str]) -> Fields:
    groups = m.groupdict()
    failed = bool(groups.get("failed")) or groups.get("result") == "FAILED" \
        or groups.get("sign") == "-"
    fields: Fields = {
        "event.action": "su",
        "event.outcome": "failure" if failed else "success",
        "user.name": groups["user"],
        "user.effective.name": groups["target"],
    }
    if groups.get("tty"):
        fields["system.auth.su.tty"] = groups["tty"]
    return fields


def _account(action: str) -> Callable[[re.Match[str]], Fields]:
    """Builder for shadow-utils and passwd lines: who was created, changed or removed."""
    def build(m: re.Match[str]) -> Fields:
        g = m.groupdict()
        fields: Fields = {"event.action": action, "event.outcome": "success"}
        name = g.get("name") or g.get("name2") or g.get("locked") or g.get("old_name")
        if action in ("group_created", "group_deleted"):
            fields["group.name"] = name
            if g.get("gid"):
                fields["group.id"] = g["gid"]
                fields["system.auth.groupadd.name"] = name
                fields["system.auth.groupadd.gid"] = g["gid"]
        else:
            fields["user.target.name"] = name
        if action == "user_created":
            if g.get("reason") is not None:
                fields["event.outcome"] = "failure"
                fields["error.message"] = g["reason"]
            else:
                fields.update({
                    "user.target.id": g["uid"], "user.target.group.id": g["gid"],
                    "system.auth.useradd.name": name, "system.auth.useradd.uid": g["uid"],
                    "system.auth.useradd.gid": g["gid"], "system.auth.useradd.home": g["home"],
                    "system.auth.useradd.shell": g["shell"],
                })
        elif action == "user_group_added":
            fields["group.name"] = g["group"]
            if g["shadow"]:
                fields["system.auth.group.shadow"] = True
        elif action == "user_modified":
            if g.get("what"):
                fields["system.auth.usermod.change"] = g["what"]
                fields["system.auth.usermod.old"] = g["old"]
                fields["system.auth.usermod.new"] = g["new"]
            elif g.get("new_name"):
                fields["system.auth.usermod.change"] = "name"
                fields["system.auth.usermod.old"] = g["old_name"]
                fields["system.auth.usermod.new"] = g["new_name"]
            else:
                fields["system.auth.usermod.change"] = f"{g['lock']} password"
        elif action == "password_changed" and g.get("by"):
            fields["user.name"] = g["by"]
        if g.get("from"):
            fields["system.auth.tty"] = g["from"]
        return fields
    return build


def _rule(name: str, build: Callable[[re.Match[str]], Fields]) -> MessageRule:
    return MessageRule(_PATTERNS[name], build)


_SU_RULES = tuple(_rule(n, _su) for n in
                  ("su_util_linux", "su_bsd", "su_shadow", "su_sulog", "su_aix"))
_USERMOD = (_rule("group_member", _account("user_group_added")),
            _rule("usermod", _account("user_modified")))
# Per program, the patterns its messages may match (PAM lines are added by the caller).
BY_PROGRAM: dict[str, tuple[MessageRule, ...]] = {
    "sudo": (_rule("sudo", _sudo),),
    "su": _SU_RULES,
    "useradd": (_rule("useradd", _account("user_created")),
                _rule("useradd_failed", _account("user_created")), *_USERMOD),
    "groupadd": (_rule("groupadd", _account("group_created")),),
    "usermod": _USERMOD,
    "gpasswd": _USERMOD,
    "userdel": (_rule("userdel", _account("user_deleted")),
                _rule("groupdel", _account("group_deleted"))),
    "groupdel": (_rule("groupdel", _account("group_deleted")),),
    "passwd": (_rule("passwd", _account("password_changed")),),
}
