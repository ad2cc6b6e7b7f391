#!/bin/sh
# Runs playbooks/site.yml on the production inventory as 4 shards in the current kubectl
# context, then merges the shards' streams; exits with the merged exit code.
#
#   SSH_KEY=~/.ssh/deploy KNOWN_HOSTS=~/.ssh/known_hosts deploy/kubernetes/run.sh
#
# from the repository root, once the image of deploy/Dockerfile is pushed where the cluster
# pulls `drover:latest` from (or the manifests' `image:` changed).
set -eu
here=$(dirname "$0")
: "${SSH_KEY:?the private key drover logs in with}" "${KNOWN_HOSTS:?the known_hosts file of the hosts}"

# The inventory as a ConfigMap (hosts change without a new image), the key as a Secret, and
# the volume the streams go to.
kubectl create configmap drover-inventory \
  --from-file=production.ini=inventory/production.ini --dry-run=client -o yaml | kubectl apply -f -
kubectl create secret generic drover-ssh \
  --from-file=id_ed25519="$SSH_KEY" --from-file=known_hosts="$KNOWN_HOSTS" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f "$here/streams-pvc.yaml"

kubectl delete job drover-shards drover-merge --ignore-not-found --wait=true
kubectl apply -f "$here/shards-job.yaml"

# Until the Job is Complete or Failed (a shard that gave up still leaves the others' streams,
# and the merge says which one is missing).
finished() {
  kubectl get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{"\n"}{end}' |
    grep -Eq '^(Complete|Failed)$'
}
until finished drover-shards; do sleep 5; done

uid=$(kubectl get job drover-shards -o jsonpath='{.metadata.uid}')
sed "s/RUN_UID/$uid/" "$here/merge-job.yaml" | kubectl apply -f -
until finished drover-merge; do sleep 2; done
kubectl logs job/drover-merge
code=$(kubectl get pods -l job-name=drover-merge \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
exit "${code:-1}"
