"""Remediation playbooks: a registry of boto3 actions, run only after approval.

Public API: :mod:`playbooks.base` (the contract), :mod:`playbooks.registry` (``register``,
``get``, ``all_playbooks``), :mod:`playbooks.session` (``SessionFactory``) and
:mod:`playbooks.runner` (``ActionRunner``, the consumer of ``{soc}:actions``). Each other module
of this package holds one playbook and is imported when the registry is first read.
"""
