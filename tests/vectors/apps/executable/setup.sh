#!/bin/sh
set -eu
echo "nothing to set up"
