#!/usr/bin/env bash
# emulate-cluster.sh: runs an MPI program on a cluster emulated on this machine with Linux network
# namespaces, so that Strata's hierarchy meets real TCP links of a chosen rate and latency.
#
#   scripts/emulate-cluster.sh [options] [--] COMMAND [ARGS...]
#   scripts/emulate-cluster.sh --cleanup
#
# Each host is a network namespace with its own hostname (a UTS namespace per launched process),
# reached only through a veth link. Nodes hang off one switch (a bridge inside a namespace of this
# script); with --packages-per-node G > 1 every node is a bridge of its own, each GPU package is a
# host on it, and the node's uplink to the switch is shared by its packages, as a NIC is. Ranks of
# one host share memory (Open MPI's vader transport): that is the GCD level. Addresses exist only on
# interfaces inside the namespaces made here; nothing leaves the machine. Everything is removed on
# exit (a trap), and --cleanup removes what a killed run left behind.
#
# Exit status: COMMAND's (mpirun's); 2 for bad options; 77 when the cluster cannot be made here
# (not root, no `ip`/`tc`/`unshare`/`mpirun`, or the kernel refuses network namespaces), so that
# test drivers can report a skip with the message printed.
set -uo pipefail

nodes=2 ranks_per_node=2 packages=1
node_rate="" node_delay="" gpu_rate="" gpu_delay=""
verbose=0 cleanup_only=0
prefix="strata-cl"
run_id="$$"

usage() {
    cat <<'EOF'
usage: scripts/emulate-cluster.sh [options] [--] COMMAND [ARGS...]
       scripts/emulate-cluster.sh --cleanup

  --nodes N              hosts at the node level (default 2)
  --ranks-per-node R     MPI ranks per node (default 2); with G packages, R/G per package
  --packages-per-node G  GPU packages per node, each its own host on a per-node bridge (default 1:
                         the node is one host)
  --node-rate RATE       each node's link to the switch, both directions (tc units: 100mbit,
                         400mbit, 2gbit); default unlimited
  --node-delay TIME      one-way delay added on each node link (tc units: 50us, 1ms)
  --gpu-rate RATE        each package's link to its node bridge (needs G > 1)
  --gpu-delay TIME       one-way delay on each package link
  --verbose              print the commands that build the cluster
  --cleanup              remove namespaces left by killed runs (strata-cl-*) and exit
  -h, --help             this text

COMMAND runs under mpirun on every rank: `-np N*R`, ranks filling hosts in order, so that ranks of
one host are consecutive. The rank's environment is this script's, plus STRATA_NODE_ID (its node's
name), which Strata uses to group several hosts (packages) into one node.
EOF
}

die() { echo "emulate-cluster: $*" >&2; exit 2; }
cannot() { echo "emulate-cluster: cannot emulate a cluster here: $*" >&2; exit 77; }

while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=${2:-}; shift 2 ;;
        --ranks-per-node) ranks_per_node=${2:-}; shift 2 ;;
        --packages-per-node) packages=${2:-}; shift 2 ;;
        --node-rate) node_rate=${2:-}; shift 2 ;;
        --node-delay) node_delay=${2:-}; shift 2 ;;
        --gpu-rate) gpu_rate=${2:-}; shift 2 ;;
        --gpu-delay) gpu_delay=${2:-}; shift 2 ;;
        --verbose) verbose=1; shift ;;
        --cleanup) cleanup_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) break ;;
    esac
done

# Removes every namespace named by this script: with an argument, one run's; without, all of them,
# after ending the processes still inside (a killed run's orted and ranks).
remove_namespaces() {
    local pattern="^${prefix}-${1:-[0-9]+}-"
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$pattern"); do
        local pids
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
}

if [ "$cleanup_only" = 1 ]; then
    [ "$(id -u)" -eq 0 ] || cannot "--cleanup needs root"
    command -v ip >/dev/null || cannot "no 'ip' command (Debian package iproute2)"
    before=$(ip netns list | grep -c "^${prefix}-" || true)
    remove_namespaces
    echo "emulate-cluster: removed $before namespace(s)"
    exit 0
fi

[ $# -gt 0 ] || die "no command to run (see --help)"
for v in nodes ranks_per_node packages; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} must be a positive integer, not '${!v}'"
done
[ "$nodes" -le 64 ] || die "--nodes is at most 64"
[ $((ranks_per_node % packages)) -eq 0 ] ||
    die "--ranks-per-node $ranks_per_node is not a multiple of --packages-per-node $packages"
[ "$packages" -le 64 ] || die "--packages-per-node is at most 64"
if [ "$packages" -eq 1 ] && [ -n "$gpu_rate$gpu_delay" ]; then
    die "--gpu-rate/--gpu-delay need --packages-per-node > 1 (a second level of hosts)"
fi
per_host=$((ranks_per_node / packages))

[ "$(id -u)" -eq 0 ] || cannot "network namespaces need root (run as root or with sudo)"
for tool in ip tc unshare mpirun; do
    command -v "$tool" >/dev/null ||
        cannot "no '$tool' command (Debian packages: iproute2 for ip/tc, util-linux, openmpi-bin)"
done

tag="${prefix}-${run_id}"
state=$(mktemp -d "/tmp/${tag}.XXXXXX") || cannot "no temporary directory"

teardown() {
    remove_namespaces "$run_id"
    rm -rf "$state"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() {
    [ "$verbose" = 1 ] && echo "+ $*" >&2
    "$@"
}

# A link's shaping on one end, in the direction leaving `dev`: an HTB class at the link's rate
# holds two classes, TCP's pure ACKs first and everything else after them, so that a transfer in
# one direction does not starve the other direction's acknowledgements queued behind its data (a
# plain token bucket halved bidirectional exchanges at random). A delay, when asked for, is a netem
# qdisc under each class (kernels without netem refuse it).
shape() {
    local ns=$1 dev=$2 rate=$3 delay=$4
    [ -n "$rate$delay" ] || return 0
    local bits=100000000000
    if [ -n "$rate" ]; then bits=$(tc_rate_bits "$rate") || return 1; fi
    # A millisecond of bytes per burst (at least 64 KB, so that offloaded super-packets pass).
    local burst=$((bits / 8 / 1000))
    [ "$burst" -ge 65536 ] || burst=65536
    run tc -n "$ns" qdisc add dev "$dev" root handle 1: htb default 20 || return 1
    # quantum: what a class may send per round among its siblings (HTB's default, rate / r2q, is
    # out of range at gigabit rates and makes the kernel warn).
    run tc -n "$ns" class add dev "$dev" parent 1: classid 1:1 htb rate "${bits}bit" ceil "${bits}bit" \
        burst "$burst" cburst "$burst" quantum 60000 || return 1
    run tc -n "$ns" class add dev "$dev" parent 1:1 classid 1:10 htb rate "$((bits / 20))bit" ceil "${bits}bit" \
        burst "$burst" cburst "$burst" prio 0 quantum 60000 || return 1
    run tc -n "$ns" class add dev "$dev" parent 1:1 classid 1:20 htb rate "$((bits - bits / 20))bit" ceil "${bits}bit" \
        burst "$burst" cburst "$burst" prio 1 quantum 60000 || return 1
    # IPv4, header of 5 words, total length < 64, TCP, flags exactly ACK: a pure acknowledgement.
    run tc -n "$ns" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff \
        match u8 0x05 0x0f at 0 match u16 0x0000 0xffc0 at 2 match u8 0x10 0xff at 33 flowid 1:10 || return 1
    local c
    for c in 10 20; do
        if [ -n "$delay" ]; then
            if ! run tc -n "$ns" qdisc add dev "$dev" parent "1:$c" netem delay "$delay" limit 100000; then
                echo "emulate-cluster: cannot add a delay: this kernel has no netem qdisc" \
                     "(CONFIG_NET_SCH_NETEM); run without --node-delay/--gpu-delay" >&2
                return 1
            fi
        else
            run tc -n "$ns" qdisc add dev "$dev" parent "1:$c" pfifo limit 2000 || return 1
        fi
    done
}

# tc's rate units (bit, kbit, mbit, gbit; kibit...; bps = bytes) as bits per second.
tc_rate_bits() {
    local r=$1 num unit
    num=${r%%[a-zA-Z]*}
    unit=${r#"$num"}
    [[ "$num" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "emulate-cluster: bad rate '$r'" >&2; return 1; }
    local mult
    case "$unit" in
        bit|"") mult=1 ;;
        kbit) mult=1000 ;; mbit) mult=1000000 ;; gbit) mult=1000000000 ;;
        kibit) mult=1024 ;; mibit) mult=1048576 ;; gibit) mult=1073741824 ;;
        bps) mult=8 ;; kbps) mult=8000 ;; mbps) mult=8000000 ;; gbps) mult=8000000000 ;;
        *) echo "emulate-cluster: bad rate unit in '$r' (bit, kbit, mbit, gbit, bps, ...)" >&2; return 1 ;;
    esac
    awk -v n="$num" -v m="$mult" 'BEGIN { printf "%.0f\n", n * m }'
}

# A namespace with its loopback up.
make_ns() {
    run ip netns add "$1" || return 1
    run ip -n "$1" link set lo up
}

# A veth pair from namespace a (interface ia, address addr, or none) to bridge br in namespace b.
link_to_bridge() {
    local a=$1 ia=$2 addr=$3 b=$4 ib=$5 br=$6
    run ip link add "$ia" netns "$a" type veth peer name "$ib" netns "$b" || return 1
    run ip -n "$b" link set "$ib" master "$br" &&
        run ip -n "$b" link set "$ib" up &&
        { [ -z "$addr" ] || run ip -n "$a" addr add "$addr" dev "$ia"; } &&
        run ip -n "$a" link set "$ia" up
}

make_bridge() {
    run ip -n "$1" link add "$2" type bridge || return 1
    run ip -n "$1" link set "$2" up
}

hosts=()       # host names, in rank order
host_node=()   # the node each host belongs to
build() {
    local sw="${tag}-switch"
    make_ns "$sw" && make_bridge "$sw" br0 || return 1
    # The launcher's host: mpirun runs here, on an unshaped link to the switch.
    make_ns "${tag}-head" && link_to_bridge "${tag}-head" eth0 10.77.0.1/16 "$sw" head br0 || return 1
    local n p
    for ((n = 0; n < nodes; n++)); do
        if [ "$packages" -eq 1 ]; then
            local h="node$n" ns="${tag}-node$n"
            make_ns "$ns" && link_to_bridge "$ns" eth0 "10.77.1.$((n + 1))/16" "$sw" "n$n" br0 || return 1
            shape "$ns" eth0 "$node_rate" "$node_delay" && shape "$sw" "n$n" "$node_rate" "$node_delay" || return 1
            hosts+=("$h")
            host_node+=("node$n")
        else
            # The node's bridge and its uplink, shaped at the node rate; its packages below.
            local nb="${tag}-node$n"
            make_ns "$nb" && make_bridge "$nb" br0 && link_to_bridge "$nb" uplink "" "$sw" "n$n" br0 || return 1
            run ip -n "$nb" link set dev uplink master br0 || return 1
            shape "$nb" uplink "$node_rate" "$node_delay" && shape "$sw" "n$n" "$node_rate" "$node_delay" || return 1
            for ((p = 0; p < packages; p++)); do
                local h="node${n}p$p" ns="${tag}-node${n}p$p"
                make_ns "$ns" && link_to_bridge "$ns" eth0 "10.77.$((n + 2)).$((p + 1))/16" "$nb" "p$p" br0 || return 1
                shape "$ns" eth0 "$gpu_rate" "$gpu_delay" && shape "$nb" "p$p" "$gpu_rate" "$gpu_delay" || return 1
                hosts+=("$h")
                host_node+=("node$n")
            done
        fi
    done
}

# The rsh agent Open MPI uses to start its daemon on a host: enter the host's network namespace,
# give the process its own hostname, tell Strata its node, and run the command as ssh would.
write_agent() {
    local agent="$state/agent.sh" i
    {
        echo '#!/bin/sh'
        echo 'host=$1; shift'
        echo 'case "$host" in'
        for i in "${!hosts[@]}"; do
            echo "  ${hosts[$i]}) node=${host_node[$i]} ;;"
        done
        echo '  *) echo "emulate-cluster agent: unknown host $host" >&2; exit 1 ;;'
        echo 'esac'
        echo "STRATA_NODE_ID=\$node exec ip netns exec ${tag}-\$host unshare --uts sh -c 'hostname \"\$0\" && exec sh -c \"\$*\"' \"\$host\" \"\$@\""
    } >"$agent"
    chmod +x "$agent"
    echo "$agent"
}

if ! build; then
    cannot "building the namespaces failed (does this kernel allow network namespaces and veth?)"
fi
agent=$(write_agent)
hostlist=$(printf '%s:'"$per_host"',' "${hosts[@]}")
hostlist=${hostlist%,}
np=$((nodes * ranks_per_node))

# Open MPI settings, and why:
#  plm_rsh_agent            start each host's daemon through the agent above (enter the namespace)
#  btl self,vader,tcp       shared memory inside a host, TCP between hosts: the links shaped above
#  btl/oob_tcp_if_include   only the cluster's addresses (not loopback, which every namespace has)
#  btl_tcp_eager_limit, btl_tcp_rndv_eager_limit, btl_tcp_max_send_size 32 MiB
#                           messages up to 32 MiB sent at once, without the rendezvous handshake:
#                           with it a two-way exchange at random ran one direction after the other,
#                           its control message queued behind the other direction's data (8 MB each
#                           way over 400 Mbit/s took 0.17 s or 0.33 s; one way always 0.17 s)
#  mpi_yield_when_idle 1    more ranks than cores: a rank waiting in MPI yields instead of spinning
#  btl_vader_single_copy_mechanism none   containers refuse the ptrace rights CMA needs
#  rmaps_base_oversubscribe  hosts have as many slots as ranks, whatever their core count
#  hwloc_base_binding_policy none   Strata binds each rank itself (STRATA_BIND)
mpi_args=(--host "$hostlist" -np "$np" --map-by slot
    --mca plm_rsh_agent "$agent"
    --mca btl self,vader,tcp
    --mca btl_tcp_if_include 10.77.0.0/16 --mca oob_tcp_if_include 10.77.0.0/16
    --mca btl_tcp_eager_limit 33554432 --mca btl_tcp_rndv_eager_limit 33554432
    --mca btl_tcp_max_send_size 33554432
    --mca mpi_yield_when_idle 1
    --mca btl_vader_single_copy_mechanism none
    --mca rmaps_base_oversubscribe 1
    --mca hwloc_base_binding_policy none)
[ "$(id -u)" -eq 0 ] && mpi_args+=(--allow-run-as-root)

# Every emulated host sees all of this machine's cores, so binding each host's ranks to "its" cores
# (Strata's default, STRATA_BIND) would put the first rank of every host on the same core and leave
# others idle; the ranks float instead, and each runs the machine's cores / ranks threads (at least
# one), unless the caller set these.
cores=$(nproc)
export STRATA_BIND="${STRATA_BIND:-0}"
if [ -z "${OMP_NUM_THREADS:-}" ]; then
    threads=$((cores / np))
    export OMP_NUM_THREADS=$((threads > 0 ? threads : 1))
fi

desc="$nodes node(s) x $ranks_per_node rank(s)"
[ "$packages" -gt 1 ] && desc="$nodes node(s) x $packages package(s) x $per_host rank(s)"
echo "emulate-cluster: $desc = $np ranks on $cores cores (OMP_NUM_THREADS=$OMP_NUM_THREADS, STRATA_BIND=$STRATA_BIND); node links ${node_rate:-unlimited}${node_delay:+ +$node_delay}$(
    [ "$packages" -gt 1 ] && echo "; package links ${gpu_rate:-unlimited}${gpu_delay:+ +$gpu_delay}")" >&2
[ "$verbose" = 1 ] && echo "+ mpirun ${mpi_args[*]} $*" >&2

ip netns exec "${tag}-head" unshare --uts sh -c 'hostname head && exec "$@"' sh mpirun "${mpi_args[@]}" "$@"
status=$?
exit $status
