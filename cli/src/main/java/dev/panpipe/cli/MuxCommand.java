package dev.panpipe.cli;

import dev.panpipe.process.ChildLostException;
import dev.panpipe.process.ExpectationFailedException;
import dev.panpipe.process.Mux;
import dev.panpipe.process.MuxBuilder;
import dev.panpipe.process.ShellWords;
import dev.panpipe.process.SpawnException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code panpipe mux A='server --port 0' B=client}: a {@link Mux} at the command line, for trying a client
 * and a server against each other by hand or from a script.
 */
@Command(name = "mux",
        header = "Run named commands side by side, their output merged line by line as NAME: line.",
        descriptionHeading = "%n",
        description = {
                "Starts every NAME=COMMAND (COMMAND split into words with POSIX quoting, without a shell) and prints each "
                        + "line it writes, on stdout or stderr, as 'NAME: line' on panpipe's stdout as soon as the line is "
                        + "complete; lines are never mixed. A last line without a newline is printed when the child ends.",
                "",
                "Input: a line 'NAME: text' on panpipe's stdin sends 'text' to NAME's stdin. Each child also gets a FIFO "
                        + "DIR/NAME.in (mode 0600) whose bytes, from any process (echo hi > DIR/NAME.in), go to its stdin; "
                        + "DIR is printed on stderr at start and given to the children as $PANPIPE_MUX_DIR.",
                "",
                "--expect-file runs a script first (one step a line; # comments):",
                "  send NAME text             text and a newline to NAME's stdin",
                "  expect NAME regex [T]      wait up to T (default 10s; e.g. 500ms, 5s, 2m) for a line from NAME in which "
                        + "regex (java.util.regex) is found; lines are taken in order, so one that came earlier counts",
                "",
                "Stopping (when a child ends with --until any, when all have with --until all, on Ctrl-C, SIGTERM or an "
                        + "expectation not met): every stdin is closed; after the grace period each child's process group "
                        + "gets SIGTERM, after another SIGKILL; then the FIFOs (and the directory, if panpipe made it) are "
                        + "removed. Each child leads its own process group, so a terminal's Ctrl-C reaches only panpipe, "
                        + "which stops them in that order.",
                "",
                "If the reader of panpipe's stdout goes away (panpipe mux ... | head -n 1), panpipe stops reading the "
                        + "children's output and closes its ends of their stdout and stderr pipes at once, so a child's next "
                        + "write kills it with SIGPIPE, as in a shell pipeline; then it stops the rest the same way and exits "
                        + "141, saying nothing more, as SIGPIPE ends a C program.",
        },
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
                "      0:every child that ended by itself exited 0 (with --until any: the first one; the others were stopped)",
                "  1-255:the status of the first child that ended by itself and failed: its exit code, or 128+N if signal N "
                        + "killed it",
                "      1:the FIFO directory or a FIFO could not be made, or the output could not be written (also a child's "
                        + "status 1: see stderr)",
                "      2:bad arguments: no NAME=COMMAND, a bad or repeated NAME, bad quoting, --until, --grace, or an "
                        + "--expect-file that cannot be read or has an error (named with its line)",
                "    124:an expectation was not met in time, or its child ended first; the last lines from that child are "
                        + "on stderr",
                "    126:a COMMAND exists but cannot be executed; nothing was started",
                "    127:a COMMAND is not found; nothing was started",
                "    130:stopped by SIGINT (Ctrl-C); 143 by SIGTERM, 129 by SIGHUP: once every child is stopped, panpipe dies of the "
                        + "same signal, so that a script running it stops too",
                "    141:the reader of the output went away (EPIPE), so every child was stopped",
        },
        footerHeading = "%nExamples:%n",
        footer = {
                "  panpipe mux server='python3 -m http.server 8000' client='sh -c \"sleep 1; curl -s localhost:8000\"'",
                "  panpipe mux --until all --expect-file talk.txt A=cat B='grep --line-buffered -i hello'",
                "  echo 'A: hi' | panpipe mux A='head -n 1'",
        })
final class MuxCommand implements Callable<Integer> {
    static final int EXIT_SETUP = 1;
    static final int EXIT_EXPECTATION = 124;

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Option(names = "--fifo-dir", paramLabel = "DIR",
            description = "Make the FIFOs NAME.in in DIR (created 0700 if missing, and then removed at the end) instead of a "
                    + "fresh private directory.")
    Path fifoDir;

    @Option(names = "--until", paramLabel = "any|all", defaultValue = "any",
            description = "Stop when any child has ended (default) or when all have.")
    String until;

    @Option(names = "--expect-file", paramLabel = "FILE", description = "Run the send/expect script in FILE first.")
    Path expectFile;

    @Option(names = "--grace", paramLabel = "DURATION", defaultValue = "2s",
            description = "How long stopping waits after closing the stdins, and again after SIGTERM (default ${DEFAULT-VALUE}).")
    String grace;

    @Parameters(arity = "1..*", paramLabel = "NAME=COMMAND",
            description = "A child: its NAME (letters, digits, _ . -) and its command line, e.g. A='grep -i \"two words\"'.")
    List<String> children;

    /** The signal that is stopping panpipe, or 0. */
    private final AtomicInteger stoppedBy = new AtomicInteger();
    /** Set once stdout's reader has gone away (EPIPE): panpipe is stopping, see {@link Output}. */
    private final AtomicBoolean brokenPipe = new AtomicBoolean();
    /** The mux, once started: what {@link Output} closes the children's output of. */
    private volatile Mux running;

    @Override
    public Integer call() {
        Map<String, List<String>> commands = parseChildren();
        Mux.Until stopWhen = switch (until) {
            case "any" -> Mux.Until.ANY;
            case "all" -> Mux.Until.ALL;
            default -> throw new ParameterException(spec.commandLine(), "--until must be any or all, not '" + until + "'");
        };
        Duration graceDuration;
        try {
            graceDuration = Durations.parse(grace);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--grace: " + e.getMessage(), e);
        }
        ExpectScript script = null;
        if (expectFile != null) {
            try {
                script = ExpectScript.read(expectFile, commands.keySet());
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage(), e);
            } catch (IOException e) {
                throw new ParameterException(spec.commandLine(), "cannot read --expect-file " + expectFile + ": " + IoErrors.reason(e), e);
            }
        }

        PrintWriter err = spec.commandLine().getErr();
        String me = spec.root().name() + " mux: ";
        // Mux names a failed write in a notice and drops the lines from then on; the exit status says so too.
        // A reader gone (EPIPE) stops the run instead: see Output.
        Main.FailureRecordingStream stdout = new Main.FailureRecordingStream(new FileOutputStream(FileDescriptor.out));
        Output output = new Output(stdout, Thread.currentThread());
        MuxBuilder builder = Mux.builder()
                .fifos(fifoDir)
                .output(output)
                .routeStandardInput()
                .grace(graceDuration)
                .notices(message -> {
                    err.println(me + message);
                    err.flush();
                });
        commands.forEach(builder::child);

        stopOnSignals(Thread.currentThread());
        Mux mux;
        try {
            mux = builder.start();
        } catch (SpawnException e) {
            err.println(me + e.getMessage());
            err.flush();
            return e.shellCode();
        } catch (IOException e) {
            err.println(me + "cannot set up the FIFOs: " + IoErrors.describe(e));
            err.flush();
            return EXIT_SETUP;
        }
        running = mux;
        // Lines are written from the mux's thread as soon as children start: a reader gone before start
        // returned found no mux to close the output of. (Both look at both, so one of them does it.)
        if (brokenPipe.get()) mux.closeOutput();
        int code;
        try (mux) {
            Path dir = mux.fifoDirectory().orElseThrow();
            err.println(me + "FIFOs in " + dir + ": " + String.join(" ", commands.keySet().stream().map(n -> n + ".in").toList())
                    + " (what is written into NAME.in goes to NAME's stdin)");
            err.flush();
            code = run(mux, script, stopWhen, err, me);
        } catch (ChildLostException e) {
            // A notice has named the child and why already; what else failed rides along.
            for (Throwable also : e.getSuppressed()) err.println(me + "stopping the children failed: " + also.getMessage());
            code = EXIT_SETUP;
        } catch (IOException e) {
            err.println(me + "stopping the children failed: " + e.getMessage());
            code = EXIT_SETUP;
        }
        int signal = stoppedBy.get();
        err.flush();
        if (signal != 0) return Main.stoppedBySignal(signal);   // died of it, once stdout is flushed
        // As Main.afterStdout: a child's failure, seen before, is the more useful status.
        if (brokenPipe.get()) return code != 0 ? code : Main.EXIT_BROKEN_PIPE;
        return code == 0 && stdout.failure() != null ? EXIT_SETUP : code;
    }

    /**
     * panpipe's stdout, for the mux. Once its reader has gone away (EPIPE), nobody will see another line, and
     * children that never end (yes, a server) would keep panpipe running for ever, while a notice for each
     * failed write would be noise. So the first EPIPE closes the mux's output ({@link Mux#closeOutput}: a
     * child's next write kills it with SIGPIPE, as the reader of a shell pipeline going away does, rather
     * than have a writer spin for the two grace periods of the stop) and interrupts the main thread, which
     * stops the rest as a signal does (stdins closed, grace, SIGTERM, grace, SIGKILL, FIFOs removed) and
     * exits 141; what is written until then is dropped without a word. Other write errors (a full disk) are
     * thrown, for the mux to name once, and the run goes on.
     */
    private final class Output extends OutputStream {
        private final OutputStream out;
        private final Thread main;

        Output(OutputStream out, Thread main) {
            this.out = out;
            this.main = main;
        }

        @Override
        public void write(int b) throws IOException {
            if (brokenPipe.get()) return;
            try {
                out.write(b);
            } catch (IOException e) {
                readerGone(e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (brokenPipe.get()) return;
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                readerGone(e);
            }
        }

        @Override
        public void flush() throws IOException {
            if (brokenPipe.get()) return;
            try {
                out.flush();
            } catch (IOException e) {
                readerGone(e);
            }
        }

        /** Rethrows {@code e} unless it is EPIPE, which starts the stop instead. */
        private void readerGone(IOException e) throws IOException {
            if (!IoErrors.isBrokenPipe(e)) throw e;
            if (!brokenPipe.compareAndSet(false, true)) return;
            try {
                Mux mux = running;
                if (mux != null) mux.closeOutput();   // on the mux's thread: queued, done once the handler writing returns
            } finally {
                main.interrupt();
            }
        }
    }

    /** The script, then waiting; the exit code unless a signal or a broken stdout stops it (then close() does the rest). */
    private int run(Mux mux, ExpectScript script, Mux.Until stopWhen, PrintWriter err, String me) {
        ExpectScript.Step step = null;
        try {
            if (script != null) {
                for (ExpectScript.Step s : script.steps()) {
                    step = s;
                    switch (s) {
                        case ExpectScript.Send send -> mux.send(send.child(), send.text() + "\n");
                        case ExpectScript.Expect x -> mux.expect(x.child(), x.pattern(), x.timeout());
                    }
                }
            }
            List<Mux.Exit> exits = mux.await(stopWhen);
            for (Mux.Exit e : exits) {
                if (e.byItself() && !e.status().success()) return e.status().shellCode();
            }
            return 0;
        } catch (ExpectationFailedException e) {
            if (e.outputClosed()) return 0;     // stdout's reader gone, not the script's failure: call() reports 141
            err.println(me + script.file() + ":" + step.line() + ": " + e.getMessage());
            return EXIT_EXPECTATION;
        } catch (ChildLostException e) {
            return EXIT_SETUP;      // named by a notice; close() throws it again
        } catch (InterruptedException e) {
            return 0;   // a signal, or stdout's reader gone: call() reports 128+N or 141 once close() has stopped everything
        }
    }

    private Map<String, List<String>> parseChildren() {
        Map<String, List<String>> commands = new LinkedHashMap<>();
        for (String child : children) {
            int eq = child.indexOf('=');
            if (eq < 0) throw new ParameterException(spec.commandLine(), "'" + child + "' is not NAME=COMMAND");
            String name = child.substring(0, eq);
            try {
                MuxBuilder.requireValidName(name);
                List<String> words = ShellWords.split(child.substring(eq + 1));
                if (words.isEmpty()) throw new IllegalArgumentException("empty command");
                if (commands.putIfAbsent(name, words) != null) throw new IllegalArgumentException("the name is used twice");
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), name + ": " + e.getMessage(), e);
            }
        }
        return commands;
    }

    /**
     * SIGINT, SIGTERM and SIGHUP interrupt the main thread, which then stops every child in order and removes
     * the FIFOs before panpipe exits 128+N. The JVM's own handlers (which would run shutdown hooks and exit
     * at once) are replaced; with -Xrs the defaults stay.
     */
    private void stopOnSignals(Thread main) {
        for (String name : List.of("INT", "TERM", "HUP")) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
                    if (stoppedBy.compareAndSet(0, signal.getNumber())) main.interrupt();
                });
            } catch (IllegalArgumentException e) {
                // reserved by the JVM (-Xrs): the default action stays
            }
        }
    }

}
