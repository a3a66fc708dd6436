#!/bin/sh
# Serves the noVNC web client and proxies its WebSocket to a VNC server: the gateway's screen, so
# IB's weekly two-factor login is approved from a browser. The image runs this script, and so does
# tests/deploy/test_novnc.py (against Xvfb and x11vnc), so the tested command is the shipped one.
#
#   NOVNC_LISTEN  [address:]port websockify listens on     (default 6080: every interface)
#   VNC_TARGET    host:port of the VNC server              (default ib-gateway:5900)
#   NOVNC_WEB     directory of the noVNC web client        (default /usr/share/novnc, Debian's)
#
# The VNC password is not handled here: the browser asks for it and the VNC server checks it.
set -eu
exec websockify --web "${NOVNC_WEB:-/usr/share/novnc}" "${NOVNC_LISTEN:-6080}" \
    "${VNC_TARGET:-ib-gateway:5900}"
