import { functionRuntimes } from "@dispatch/proto";
import { Argument, Command } from "commander";
import type { App } from "../app.js";
import { OUTPUT_FORMATS } from "../config.js";
import { KINDS, kindWords } from "../kinds/index.js";
import { examples } from "./shared.js";

/** The shells {@link completionScript} writes for. */
export const SHELLS = ["bash", "zsh"] as const;

/** Flags whose value is a file or directory. */
const FILE_FLAGS = [
  "-f",
  "--filename",
  "--config",
  "--input-file",
  "--schema-in",
  "--schema-out",
  "--work-dir",
  "--filter-file",
  "--data-file",
];

/** Flags whose value is free text: nothing to offer. */
const VALUE_FLAGS = [
  "--server",
  "--token",
  "--org",
  "--context",
  "--timeout",
  "--timeout-wait",
  "--idle-timeout",
  "--from-literal",
  "--display-name",
  "--description",
  "--handler",
  "--secret",
  "--env",
  "--input",
  "--min-scale",
  "--max-scale",
  "--concurrency",
  "--tail",
  "--event-type",
  "--type-prefix",
  "--source",
  "--filter",
  "--max-retries",
  "--backoff-delay",
  "--backoff-max",
  "--delivery-timeout",
  "--data",
  "--content-type",
  "--subject",
  "--id",
  "--time",
  "--extension",
  "--broker",
  "--events-url",
  "--type",
  "--limit",
];

/** One place in the command tree: what can be typed next there. */
interface CompletionNode {
  /** Words typed to get here, canonical names: `" create organization"`. */
  path: string;
  /** Every way to type this place's last word (name and aliases). */
  spellings: string[];
  /** Subcommands (and kinds, for commands whose first argument is a kind), with descriptions. */
  words: { word: string; description: string }[];
  flags: { flag: string; description: string }[];
}

/** Commands whose first argument is a kind word (`get`, `delete`, `update`). */
const kindCommands = new WeakSet<Command>();

/**
 * Marks `command` as taking a kind as its first argument, so completion offers the
 * kind words there (besides its subcommands, which win for the words they spell).
 */
export function takesKind(command: Command): Command {
  kindCommands.add(command);
  return command;
}

/**
 * Walks the commander tree into completion nodes. A command marked with
 * {@link takesKind} offers the kind words, and after one of them its own flags again.
 */
function completionNodes(root: Command): CompletionNode[] {
  // --version is the root's own flag; the others are global and work everywhere.
  const globals = flagsOf(root).filter((f) => f.flag !== "--version");
  const nodes: CompletionNode[] = [];
  const visit = (command: Command, path: string, spellings: string[]) => {
    const subcommands = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    const subcommandWords = new Set(subcommands.flatMap((c) => [c.name(), ...c.aliases()]));
    const kindSpellings = kindCommands.has(command)
      ? KINDS.flatMap(kindWords).filter((w) => !subcommandWords.has(w))
      : [];
    const flags = command === root ? flagsOf(root) : [...flagsOf(command), ...inherited(command), ...globals];
    flags.push({ flag: "--help", description: "show help" });
    const words = subcommands.flatMap((c) =>
      [c.name(), ...c.aliases()].map((word) => ({ word, description: c.summary() || c.description() })),
    );
    if (command === root) words.push({ word: "help", description: "Show help for a command" });
    for (const kind of KINDS) {
      for (const word of kindWords(kind)) {
        if (kindSpellings.includes(word)) words.push({ word, description: kind.kind });
      }
    }
    nodes.push({ path, spellings, words, flags });
    if (kindSpellings.length > 0) {
      nodes.push({ path: `${path} <kind>`, spellings: kindSpellings, words: [], flags });
    }
    for (const sub of subcommands) visit(sub, `${path} ${sub.name()}`, [sub.name(), ...sub.aliases()]);
  };
  visit(root, "", []);
  return nodes;
}

/**
 * The flags of the commands between `command` and the root: commander hands a
 * parent's flag to the parent wherever it is typed, so `get events --follow` and
 * `create subscription … --wait` work (the subcommands read them with optsWithGlobals).
 * A flag the command declares itself is not repeated.
 */
function inherited(command: Command): { flag: string; description: string }[] {
  const own = new Set(flagsOf(command).map((f) => f.flag));
  const flags: { flag: string; description: string }[] = [];
  for (let parent = command.parent; parent?.parent; parent = parent.parent) {
    for (const f of flagsOf(parent)) {
      if (!own.has(f.flag)) {
        own.add(f.flag);
        flags.push(f);
      }
    }
  }
  return flags;
}

function flagsOf(command: Command): { flag: string; description: string }[] {
  return command.options
    .filter((o) => !o.hidden)
    .flatMap((o) =>
      [o.long, o.short].filter((f): f is string => !!f).map((flag) => ({ flag, description: o.description })),
    );
}

/** The `case` branches that advance the path when a known word is typed. */
function transitions(nodes: CompletionNode[], indent: string, end: string): string {
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf(" "));
  return nodes
    .filter((n) => n.path !== "")
    .map((n) => {
      const patterns = n.spellings.map((s) => `"${parentOf(n.path)} ${s}"`).join("|");
      return `${indent}${patterns}) cmdpath="${n.path}" ${end}`;
    })
    .join("\n");
}

function bash(program: string, nodes: CompletionNode[]): string {
  const fn = `_${program.replace(/\W/g, "_")}`;
  const branches = nodes
    .map((n) => {
      const words = n.words.map((w) => w.word).join(" ");
      const flags = n.flags.map((f) => f.flag).join(" ");
      return `    "${n.path}") words="${words}"; flags="${flags}" ;;`;
    })
    .join("\n");
  return `# bash completion for ${program}. Generated by "${program} completion bash"; load it with
#   source <(${program} completion bash)
${fn}() {
  local cur prev cmdpath word i words flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmdpath=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    case "$cmdpath $word" in
${transitions(nodes, "      ", ";;")}
    esac
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "${OUTPUT_FORMATS.join(" ")}" -- "$cur")); return ;;
    --runtime) COMPREPLY=($(compgen -W "${functionRuntimes.join(" ")}" -- "$cur")); return ;;
    --backoff) COMPREPLY=($(compgen -W "linear exponential" -- "$cur")); return ;;
    --from) COMPREPLY=($(compgen -W "now all" -- "$cur")); return ;;
    ${FILE_FLAGS.join("|")}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    ${VALUE_FLAGS.join("|")}) COMPREPLY=(); return ;;
  esac
  case "$cmdpath" in
${branches}
    *) words=""; flags="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -o default -F ${fn} ${program}
`;
}

function zsh(program: string, nodes: CompletionNode[]): string {
  const fn = `_${program.replace(/\W/g, "_")}`;
  // _describe reads "word:description"; colons inside either part are escaped.
  const item = (word: string, description: string) =>
    `'${`${word.replace(/:/g, "\\:")}:${description.replace(/:/g, "\\:")}`.replace(/'/g, "'\\''")}'`;
  const branches = nodes
    .map((n) => {
      const words = n.words.map((w) => item(w.word, w.description)).join(" ");
      const flags = n.flags.map((f) => item(f.flag, f.description)).join(" ");
      return `    "${n.path}") words_=(${words}); flags_=(${flags}) ;;`;
    })
    .join("\n");
  return `#compdef ${program}
# zsh completion for ${program}. Generated by "${program} completion zsh"; load it with
#   source <(${program} completion zsh)
# or save it as _${program} in a directory on $fpath.
${fn}() {
  local cmdpath="" word i
  local -a words_ flags_
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    [[ "$word" == -* ]] && continue
    case "$cmdpath $word" in
${transitions(nodes, "      ", ";;")}
    esac
  done
  case "\${words[CURRENT-1]}" in
    -o|--output) compadd -- ${OUTPUT_FORMATS.join(" ")}; return ;;
    --runtime) compadd -- ${functionRuntimes.join(" ")}; return ;;
    --backoff) compadd -- linear exponential; return ;;
    --from) compadd -- now all; return ;;
    ${FILE_FLAGS.join("|")}) _files; return ;;
    ${VALUE_FLAGS.join("|")}) return ;;
  esac
  case "$cmdpath" in
${branches}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    _describe -t flags 'flag' flags_
  else
    _describe -t commands 'command' words_
  fi
}
if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${program}
fi
`;
}

/**
 * A completion script for `shell`, generated from the command tree: commands,
 * subcommands and their aliases, flags, and kinds after `get`, `delete`, `update`.
 */
export function completionScript(program: Command, shell: (typeof SHELLS)[number]): string {
  const nodes = completionNodes(program);
  return shell === "bash" ? bash(program.name(), nodes) : zsh(program.name(), nodes);
}

/** `dispatch completion bash|zsh`. */
export function createCompletionCommand(app: App): Command {
  const command = new Command("completion")
    .description("Print a shell completion script for bash or zsh")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
    .action((shell: (typeof SHELLS)[number], _options: unknown, cmd: Command) => {
      let root = cmd;
      while (root.parent) root = root.parent;
      app.io.stdout(completionScript(root, shell));
    });
  return examples(command, [
    "source <(dispatch completion bash)",
    "dispatch completion zsh > ~/.zsh/completions/_dispatch",
  ]);
}
