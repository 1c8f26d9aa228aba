# bash completion for mailprobe(1): subcommands, their options, the values
# of --tls, --format, --auth, --mode and --dns-mode, URL schemes and case
# files. Installed by `make install` into share/bash-completion/completions.

_mailprobe()
{
  local cur prev cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  cmd=${COMP_WORDS[1]}
  local probe_opts="--user --password-file --password-env --timeout
    --connect-timeout --cafile --insecure --helo --warning --critical
    --cert-days --format --dns-mode --dns-server --host-map --verbose --help"

  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "run check roundtrip serve bench monitor report
      --help" -- "$cur"))
    return
  fi
  case $prev in
  --tls | --send-tls | --fetch-tls)
    COMPREPLY=($(compgen -W "none starttls implicit auto" -- "$cur"))
    return
    ;;
  --format)
    if [ "$cmd" = run ]; then
      COMPREPLY=($(compgen -W "human tap junit json" -- "$cur"))
    elif [ "$cmd" = report ]; then
      COMPREPLY=($(compgen -W "text json html" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "nagios json prometheus" -- "$cur"))
    fi
    return
    ;;
  --auth | --send-auth | --fetch-auth)
    COMPREPLY=($(compgen -W "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 LOGIN PLAIN
      USER APOP AUTH=LOGIN" -- "$cur"))
    return
    ;;
  --mode)
    COMPREPLY=($(compgen -W "same previous" -- "$cur"))
    return
    ;;
  --dns-mode)
    COMPREPLY=($(compgen -W "system no_cache server ipv4 ipv6 prefer_ipv4
      prefer_ipv6" -- "$cur"))
    return
    ;;
  --password-file | --send-password-file | --fetch-password-file | \
    --cafile | --state | --body | --ca)
    COMPREPLY=($(compgen -f -- "$cur"))
    return
    ;;
  esac
  case $cmd in
  check)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$probe_opts --tls --auth --servername
        --monitor --count --interval --interval-warn --interval-down
        --interval-lost --failures --max-alerts" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "smtp:// smtps:// submission:// pop3://
        pop3s:// imap:// imaps://" -- "$cur"))
    fi
    ;;
  roundtrip)
    COMPREPLY=($(compgen -W "$probe_opts --send --fetch --to --from
      --subject --body --header --email-timeout --poll --mode --state --id
      --send-user --send-password-file --send-password-env --fetch-user
      --fetch-password-file --fetch-password-env --send-tls --fetch-tls
      --send-auth --fetch-auth" -- "$cur"))
    ;;
  run)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--format --jobs --filter --verbose --no-fork
        --subject --baseline --shard --report --help" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -X '!*.yaml' -- "$cur") $(compgen -d -- "$cur"))
    fi
    ;;
  serve)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--port --ca --help" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -X '!*.yaml' -- "$cur") $(compgen -d -- "$cur"))
    fi
    ;;
  monitor)
    if [ "$prev" = --config ]; then
      COMPREPLY=($(compgen -f -- "$cur"))
    else
      COMPREPLY=($(compgen -W "--config --check --history --state-file
        --count --quiet --help" -- "$cur"))
    fi
    ;;
  report)
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--since --monitor --format --output
        --help" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    ;;
  bench)
    COMPREPLY=($(compgen -W "smtp slow --probes --concurrency --duration
      --cert --timeout --delay --servers --target --format --quiet
      --help" -- "$cur"))
    ;;
  esac
}
complete -F _mailprobe mailprobe
