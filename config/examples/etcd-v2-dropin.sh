#!/bin/sh
# The calico/routereflector image's docker run line, as rrd runs it:
# no configuration file, the image's variables (drop-in mode).
#
#   docker run --privileged --net=host -e IP=172.17.42.40 \
#     -e ETCD_AUTHORITY=172.17.42.30:2379 calico/routereflector
#
# becomes, on the RR host:
IP=172.17.42.40 ETCD_AUTHORITY=172.17.42.30:2379 exec rrd run
