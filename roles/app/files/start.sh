#!/bin/sh
# Starts the example application.
exec echo "starting $(cat "$(dirname "$0")/../conf/app.conf" | grep '^name')"
