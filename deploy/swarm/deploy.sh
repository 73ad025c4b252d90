#!/usr/bin/env bash
# Deploy (or upgrade) the Swarm stack: the release job, then the app's rolling update.
#
#   deploy/swarm/deploy.sh <stack> <image:tag>          e.g. deploy/swarm/deploy.sh shop registry.example.com/shop-web:0.2.0
#
# 1. `docker stack deploy -c release.yml`: the release job runs once with the new image (a job runs
#    again whenever its spec changes; the same image twice runs it no more). Waits for it: a failed
#    release stops here, the old version still serving, and its log is printed.
# 2. `docker stack deploy -c stack.yml`: each service's tasks (the web's, and a task worker's where
#    the stack has one) are replaced one at a time (start-first), each new one taking over once
#    healthy; one that never turns healthy rolls its service's update back.
#    --detach=false: returns once the updates have finished or rolled back; then each service of the
#    file says which, and the exit status sums them up (0: every one runs the new image; 1: one or
#    more rolled back or paused).
#
# Extra `docker stack deploy` options in DEPLOY_OPTIONS (e.g. "--with-registry-auth";
# "--resolve-image never" for an image only this node has). RELEASE_TIMEOUT: seconds (default 600).
set -euo pipefail
stack=${1:?usage: deploy.sh <stack> <image:tag>}
export WEB_IMAGE=${2:?usage: deploy.sh <stack> <image:tag>}
here=$(cd "$(dirname "$0")" && pwd)
read -r -a options <<<"${DEPLOY_OPTIONS:-}"

docker stack deploy --detach=true "${options[@]}" -c "$here/release.yml" "$stack" >/dev/null
service=${stack}_release
iteration=$(docker service inspect "$service" --format '{{if .JobStatus}}{{.JobStatus.JobIteration.Index}}{{end}}')
deadline=$((SECONDS + ${RELEASE_TIMEOUT:-600}))
while :; do
    # The job's tasks of this iteration, and their states.
    states=$(docker service ps "$service" --no-trunc -q | xargs -r docker inspect \
        --format "{{if eq (printf \"%v\" .JobIteration.Index) \"$iteration\"}}{{.Status.State}}{{end}}" | sort -u | tr '\n' ' ')
    case " $states " in
        *" complete "*) echo "release: done ($WEB_IMAGE)"; break ;;
        *" failed "* | *" rejected "*)
            echo "release failed ($WEB_IMAGE): the app was not updated; its log:" >&2
            docker service logs --raw "$service" 2>&1 | tail -n 40 >&2
            exit 1 ;;
    esac
    if ((SECONDS > deadline)); then echo "release: not done after ${RELEASE_TIMEOUT:-600}s (states: $states)" >&2; exit 1; fi
    sleep 1
done

# Which services this deploy updated: those of stack.yml, whose version the deploy bumps, and not the
# release job or services of other files deployed into the same stack (a database, say).
versions() {
    docker stack services -q "$stack" | xargs -r docker service inspect \
        --format '{{.Spec.Name}} {{.Version.Index}} {{if or .Spec.Mode.ReplicatedJob .Spec.Mode.GlobalJob}}job{{end}}'
}
before=$(versions)
deployed=0
docker stack deploy --detach=false "${options[@]}" -c "$here/stack.yml" "$stack" || deployed=$?
services=$(versions | { grep -vxF -e "${before:-none}" || true; } | awk '$3 != "job" { print $1 }' | sort)

# The CLI returns once the tasks converged; each update's own state follows a moment later.
state_of() { docker service inspect "$1" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}'; }
deadline=$((SECONDS + 120))
for service in $services; do
    while :; do
        case "$(state_of "$service")" in updating | rollback_started) ((SECONDS < deadline)) || break; sleep 1 ;; *) break ;; esac
    done
done
failed=$((deployed != 0))
for service in $services; do
    state=$(state_of "$service")
    image=$(docker service inspect "$service" --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}')
    case "$state" in
        "" | completed) echo "${service#"${stack}_"}: running $image" ;;
        *) echo "${service#"${stack}_"}: update $state, running $image" >&2; failed=1 ;;
    esac
done
exit "$failed"
