#!/bin/bash
# Smoke test of the API operations hardenctl needs against the devcloud test bed (up.sh),
# with curl and jq only, as the regular user "demo". Prints "SMOKE OK" and exits 0 on success.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
DEMO_PW=${DEMO_PW:-demo}
SMOKE_IMG=$(mktemp /tmp/hardenctl-smoke.XXXXXX)
trap 'rm -f "$SMOKE_IMG"' EXIT
KS=http://127.0.0.1:5000/v3
NET=http://127.0.0.1:9696/v2.0
IMG=http://127.0.0.1:9292/v2
NOVA=http://127.0.0.1:8774/v2.1
ms() { date +%s%3N; }
T() { echo "--- $*"; }

tok() { # user password project
  curl -si -X POST $KS/auth/tokens -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"'$1'","domain":{"id":"default"},"password":"'$2'"}}},"scope":{"project":{"name":"'$3'","domain":{"id":"default"}}}}}' \
    | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
T "keystone: token for demo/demo"
TOKEN=$(tok demo "$DEMO_PW" demo); echo "token: ${TOKEN:0:24}... (len ${#TOKEN})"
H=(-H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json')
curl -s "${H[@]}" $KS/auth/catalog | jq -c '[.catalog[] | {type, url: .endpoints[0].url}]'

T "neutron: networks, subnets"
curl -s "${H[@]}" $NET/networks | jq -c '[.networks[] | {name, id, status}]'
curl -s "${H[@]}" $NET/subnets | jq -c '[.subnets[] | {name, cidr}]'
NETID=$(curl -s "${H[@]}" "$NET/networks?name=private" | jq -r '.networks[0].id')

T "neutron: security group create"
SG=$(curl -s "${H[@]}" -X POST $NET/security-groups -d '{"security_group":{"name":"smoke-sg","description":"smoke"}}' | jq -r .security_group.id)
echo "sg=$SG"
T "neutron: BULK security group rule create (POST list of 3)"
curl -s "${H[@]}" -X POST $NET/security-group-rules -d '{"security_group_rules":[
 {"security_group_id":"'$SG'","direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":22,"port_range_max":22,"remote_ip_prefix":"0.0.0.0/0"},
 {"security_group_id":"'$SG'","direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":443,"port_range_max":443,"remote_ip_prefix":"0.0.0.0/0"},
 {"security_group_id":"'$SG'","direction":"ingress","ethertype":"IPv6","protocol":"icmp"}]}' \
 | jq -c '[.security_group_rules[] | {direction, ethertype, protocol, port_range_min}]'
T "neutron: tags on security group (PUT one, PUT all, GET)"
curl -s -o /dev/null -w "PUT tag -> %{http_code}\n" "${H[@]}" -X PUT $NET/security-groups/$SG/tags/managed-by-tool
curl -s "${H[@]}" -X PUT $NET/security-groups/$SG/tags -d '{"tags":["managed-by-tool","env=ci"]}' | jq -c .
curl -s "${H[@]}" "$NET/security-groups?tags=managed-by-tool" | jq -c '[.security_groups[] | {name, tags, rules: (.security_group_rules|length)}]'
T "neutron: delete one rule, delete group"
RULE=$(curl -s "${H[@]}" "$NET/security-group-rules?security_group_id=$SG&protocol=ipv6-icmp" | jq -r '.security_group_rules[0].id')
curl -s -o /dev/null -w "DELETE rule -> %{http_code}\n" "${H[@]}" -X DELETE $NET/security-group-rules/$RULE

T "glance: create, upload, tags, properties"
IMGID=$(curl -s "${H[@]}" -X POST $IMG/images -d '{"name":"smoke-img","disk_format":"raw","container_format":"bare","visibility":"private","tags":["t1"],"os_distro":"cirros","build":"42"}' | jq -r .id)
head -c 65536 /dev/urandom > "$SMOKE_IMG"
curl -s -o /dev/null -w "PUT file -> %{http_code}\n" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' -X PUT --data-binary @"$SMOKE_IMG" $IMG/images/$IMGID/file
curl -s -o /dev/null -w "PUT tag -> %{http_code}\n" "${H[@]}" -X PUT $IMG/images/$IMGID/tags/t2
curl -s -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/openstack-images-v2.1-json-patch' -X PATCH $IMG/images/$IMGID \
  -d '[{"op":"add","path":"/hw_qemu_guest_agent","value":"yes"},{"op":"replace","path":"/build","value":"43"}]' \
  | jq -c '{id, status, size, checksum, tags, os_distro, build, hw_qemu_guest_agent}'
curl -s "${H[@]}" "$IMG/images?tag=t2" | jq -c '[.images[] | .name]'
curl -s -H "X-Auth-Token: $TOKEN" $IMG/images/$IMGID/file | cmp - "$SMOKE_IMG" && echo "download matches upload"

T "nova: boot (m1.tiny, image cirros-fake-1, network private, sg smoke-sg, metadata, tags via 2.52)"
IMG1=$(curl -s "${H[@]}" "$IMG/images?name=cirros-fake-1" | jq -r '.images[0].id')
IMG2=$(curl -s "${H[@]}" "$IMG/images?name=cirros-fake-2" | jq -r '.images[0].id')
MV=(-H 'OpenStack-API-Version: compute 2.90')
t0=$(ms)
SRV=$(curl -s "${H[@]}" "${MV[@]}" -X POST $NOVA/servers -d '{"server":{"name":"smoke-vm","imageRef":"'$IMG1'","flavorRef":"1","networks":[{"uuid":"'$NETID'"}],"security_groups":[{"name":"smoke-sg"}],"metadata":{"owner":"tool"},"tags":["a","b"]}}' | jq -r .server.id)
echo "server=$SRV"
wait_status() { # want
  local s
  for i in $(seq 1 600); do
    s=$(curl -s "${H[@]}" "${MV[@]}" $NOVA/servers/$SRV | jq -r '.server | "\(.status) \(.["OS-EXT-STS:task_state"])"')
    [ "$s" = "$1 null" ] && return 0
    case "$s" in ERROR*) echo "ERROR"; curl -s "${H[@]}" "${MV[@]}" $NOVA/servers/$SRV | jq -c .server.fault; return 1;; esac
    sleep 0.2
  done; return 1
}
wait_status ACTIVE; t1=$(ms); echo "ACTIVE after $((t1-t0)) ms"
curl -s "${H[@]}" "${MV[@]}" $NOVA/servers/$SRV | jq -c '.server | {status, image: .image.id, addresses, tags, metadata, security_groups, host: .["OS-EXT-SRV-ATTR:host"]}'
curl -s "${H[@]}" "$NET/ports?device_id=$SRV" | jq -c '[.ports[] | {status, vif: .["binding:vif_type"], host: .["binding:host_id"], fixed_ips: [.fixed_ips[].ip_address], security_groups}]'

T "nova: server tags + metadata"
curl -s -o /dev/null -w "PUT tag -> %{http_code}\n" "${H[@]}" "${MV[@]}" -X PUT $NOVA/servers/$SRV/tags/c
curl -s "${H[@]}" "${MV[@]}" $NOVA/servers/$SRV/tags | jq -c .
curl -s "${H[@]}" "${MV[@]}" -X POST $NOVA/servers/$SRV/metadata -d '{"metadata":{"k2":"v2"}}' | jq -c .
curl -s "${H[@]}" "${MV[@]}" "$NOVA/servers?tags=c" | jq -c '[.servers[].name]'

T "nova: rebuild to cirros-fake-2"
t0=$(ms)
curl -s "${H[@]}" "${MV[@]}" -X POST $NOVA/servers/$SRV/action -d '{"rebuild":{"imageRef":"'$IMG2'"}}' | jq -c '.server | {status, image: .image.id}'
sleep 0.3; wait_status ACTIVE; t1=$(ms); echo "ACTIVE after rebuild: $((t1-t0)) ms"
curl -s "${H[@]}" "${MV[@]}" $NOVA/servers/$SRV | jq -c '.server | {status, image: .image.id}'

T "nova: createImage (snapshot)"
t0=$(ms)
LOC=$(curl -s "${H[@]}" "${MV[@]}" -X POST $NOVA/servers/$SRV/action -d '{"createImage":{"name":"smoke-snap","metadata":{"snap":"yes"}}}')
echo "$LOC"
SNAP=$(echo "$LOC" | jq -r .image_id)
for i in $(seq 1 600); do
  st=$(curl -s "${H[@]}" $IMG/images/$SNAP | jq -r .status); [ "$st" = active ] && break; sleep 0.2; done
t1=$(ms); echo "snapshot image $SNAP status=$st after $((t1-t0)) ms"
curl -s "${H[@]}" $IMG/images/$SNAP | jq -c '{name, status, size, disk_format, container_format, snap, image_type, instance_uuid, base_image_ref}'
wait_status ACTIVE

T "nova: delete"
t0=$(ms)
curl -s -o /dev/null -w "DELETE -> %{http_code}\n" "${H[@]}" -X DELETE $NOVA/servers/$SRV
for i in $(seq 1 600); do
  c=$(curl -s -o /dev/null -w "%{http_code}" "${H[@]}" $NOVA/servers/$SRV); [ "$c" = 404 ] && break; sleep 0.2; done
t1=$(ms); echo "server gone (404) after $((t1-t0)) ms; ports left: $(curl -s "${H[@]}" "$NET/ports?device_id=$SRV" | jq '.ports|length')"

T "cleanup"
curl -s -o /dev/null -w "DELETE sg -> %{http_code}\n" "${H[@]}" -X DELETE $NET/security-groups/$SG
curl -s -o /dev/null -w "DELETE image -> %{http_code}\n" "${H[@]}" -X DELETE $IMG/images/$IMGID
curl -s -o /dev/null -w "DELETE snapshot -> %{http_code}\n" "${H[@]}" -X DELETE $IMG/images/$SNAP
echo "SMOKE OK"
