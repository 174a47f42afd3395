"""Wi-Fi access-point sightings and Kismet alerts (``event.dataset`` ``wifi``).

:mod:`collectors.wifi.parsers` reads ``iw dev IFACE scan``, ``nmcli -t`` listings,
airodump-ng CSV files and Kismet alert JSON; :mod:`collectors.wifi.collect` runs the scans on a
schedule. Judging a sighting against the authorized inventory belongs to detection.
"""
