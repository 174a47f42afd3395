"""Door access (badge) events: vendor webhooks and export files into one event shape.

See :mod:`collectors.door.adapters` for the vendors and fields, :mod:`collectors.door.webhook`
for the HTTP receiver and :mod:`collectors.door.export` for CSV / JSON Lines exports.
"""
