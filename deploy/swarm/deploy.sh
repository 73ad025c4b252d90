#!/usr/bin/env bash
# Deploy (or upgrade) the Swarm stack: the release job, then the app's rolling update.
#
#   deploy/swarm/deploy.sh <stack> <image:tag>          e.g. deploy/swarm/deploy.sh shop registry.example.com/shop-web:0.2.0
#
# 1. `docker stack deploy -c release.yml`: the release job runs once with the new image (a job runs
#    again whenever its spec changes; the same image twice runs it no more). Waits for it: a failed
#    release stops here, the old version still serving, and its log is printed.
# 2. `docker stack deploy -c stack.yml`: the app's tasks are replaced one at a time (start-first),
#    each new one serving once healthy; one that never turns healthy rolls the update back.
#    --detach=false: returns once the update has finished or rolled back; then the exit status
#    says which (0: the new image serves; 1: rolled back or paused).
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

docker stack deploy --detach=false "${options[@]}" -c "$here/stack.yml" "$stack"
# The CLI returns once the tasks converged; the update's own state follows a moment later.
deadline=$((SECONDS + 120))
while :; do
    state=$(docker service inspect "${stack}_web" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
    case "$state" in updating | rollback_started) ((SECONDS < deadline)) || break; sleep 1 ;; *) break ;; esac
done
image=$(docker service inspect "${stack}_web" --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}')
case "$state" in
    "" | completed) echo "web: serving $image" ;;
    *) echo "web: update $state, serving $image" >&2; exit 1 ;;
esac
