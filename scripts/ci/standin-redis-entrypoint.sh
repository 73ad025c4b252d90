#!/bin/sh
# The stand-in redis image's entrypoint: the part of the official image's contract that
# docker-compose.yml relies on. Its command is redis-server (a first argument that is an option
# or a .conf file is given to redis-server, as there); started as root, it makes the working
# directory (/data) the redis user's and runs the server as that user, with a umask that keeps
# the data private. No config file: the server listens on every interface of the container, port
# 6379, and, as the official image's server is built to, with protected mode off (Debian's build
# has it on, which refuses every client that is not on loopback), unless told otherwise.
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
    fi
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
    if [ "$(umask)" = 0022 ]; then
        umask 0077
    fi
fi
exec "$@"
