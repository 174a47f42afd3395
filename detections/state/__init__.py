"""Kinds of rule state: one module (a class) and one ``.lua`` file (its Redis step) per kind.

A rule declares its memory with ``state=<Kind>(...)``; the engine plans one operation per
stateful match through the kind, runs every operation of a batch in one script call (the Lua
steps of all kinds, joined once per process: :func:`registry.script`), and hands each reply back
to the kind to decode. See :mod:`socbot.detections.state.base` for what a kind provides and
:mod:`socbot.detections.state.registry` for how kinds are found.
"""
