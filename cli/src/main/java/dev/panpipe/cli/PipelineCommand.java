package dev.panpipe.cli;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Pipeline;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Signals;
import dev.panpipe.process.SpawnException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code panpipe pipeline 'cat names.txt' 'grep Yost' 'wc -l'}: a {@link Pipeline} with the JVM's own
 * stdin, stdout and stderr handed to the stages, so no byte of the data passes through the JVM.
 */
@Command(name = "pipeline",
        header = "Run commands connected by pipes, as bash does for a | b | c, without a shell.",
        descriptionHeading = "%n",
        description = {
                "Runs STAGE | STAGE | ... as bash runs a pipeline, but without a shell: each stage's output is connected "
                        + "to the next stage's input by a kernel pipe, and the JVM never touches the data.",
                "",
                "Each STAGE is one argument, a command line split into words with POSIX quoting ('...', \"...\", \\). "
                        + "Nothing is expanded: an unquoted | ; & < > ( ) $ ` * ? [ { # newline, or ~ at the start of a "
                        + "word, is refused rather than passed on; quote it to mean it literally.",
        },
        exitCodeListHeading = "%nExit status: bash's $? for the same pipeline, unless panpipe cannot run it:%n",
        exitCodeList = {
                "  0-255:the pipeline's status, as bash's $? for it: the last stage's status, or with --pipefail the "
                        + "rightmost non-zero one; a stage killed by signal N counts as 128+N (SIGPIPE: 141). If that "
                        + "stage died of SIGINT (Ctrl-C), panpipe dies of SIGINT too, as bash does, so a script running "
                        + "it stops as well (its shell shows 130)",
                "      1:--in or --out FILE could not be opened (as a failed shell redirection); no stage is started",
                "      2:bad arguments: no STAGE, an empty STAGE, unbalanced quotes, unquoted shell syntax",
                "    126:a stage's program exists but cannot be executed (permission, a directory); one line on stderr "
                        + "names the stage, its command and why, and no stage is started (bash would run the others)",
                "    127:a stage's program is not found (or its #! interpreter is not); as 126, nothing is started",
        },
        footerHeading = "%nExamples:%n",
        footer = {
                "  panpipe pipeline 'cat samples/data/names.txt' 'grep Yost' 'wc -l'",
                "  panpipe pipeline --in app.log --out top.txt 'cut -d\" \" -f1' sort 'uniq -c' 'sort -rn'",
                "  panpipe pipeline --pipefail --append --out errors.txt 'grep -h ERROR a.log b.log' 'sort -u'",
                "  panpipe pipeline --process-group --in /dev/null './build.sh' 'tee build.log'",
        })
final class PipelineCommand implements Callable<Integer> {
    static final int EXIT_REDIRECT = 1;

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Option(names = "--in", paramLabel = "FILE", description = "The first stage reads FILE (< FILE) instead of panpipe's stdin.")
    Path in;

    @Option(names = "--out", paramLabel = "FILE", description = "The last stage writes FILE (> FILE), created or truncated, instead of panpipe's stdout.")
    Path out;

    @Option(names = "--append", description = "With --out: append to FILE (>> FILE) instead of truncating it.")
    boolean append;

    @Option(names = "--pipefail", description = "Exit with the rightmost non-zero stage status, as bash's 'set -o pipefail'.")
    boolean pipefail;

    @Option(names = "--process-group", description = {
            "Run the stages in a process group of their own, as a shell with job control runs a job, and pass on "
                    + "to the whole group the SIGINT, SIGTERM and SIGHUP that panpipe gets: they then reach what the "
                    + "stages started too (the 'sleep' of \"sh -c 'sleep 100 & wait'\"), and 'kill PID' of panpipe "
                    + "ends the pipeline rather than leave it running without panpipe. panpipe still waits for the "
                    + "stages and exits with their status. Without it the stages share panpipe's group: a terminal's "
                    + "Ctrl-C reaches them directly, and a signal sent to panpipe alone does not.",
            "panpipe waits for the first stage, the group's leader, last, so the group is signalled until every "
                    + "stage has ended; what is left in it then is left alone, as a shell leaves a finished job's "
                    + "background processes. At a terminal, when panpipe runs in its foreground, the group is "
                    + "made the terminal's foreground group while the stages run, as a shell does for a "
                    + "foreground job: they may read the terminal, its Ctrl-C goes to them directly, and panpipe "
                    + "takes the terminal back when they have ended. Its Ctrl-Z stops them, and panpipe then takes "
                    + "the terminal back and stops too, as a job its shell can continue with fg."})
    boolean processGroup;

    @Parameters(arity = "1..*", paramLabel = "STAGE", description = "A command line, one argument per stage, e.g. 'grep -v \"two words\"'.")
    List<String> stages;

    @Override
    public Integer call() {
        if (append && out == null) throw new ParameterException(spec.commandLine(), "--append needs --out FILE");
        Pipeline pipeline;
        try {
            pipeline = Pipeline.parse(stages.toArray(String[]::new));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        pipeline.input(in == null ? Redirect.inherit() : Redirect.from(in))
                .output(out == null ? Redirect.inherit() : append ? Redirect.appendTo(out) : Redirect.to(out))
                .stderr(Redirect.inherit())
                .pipefail(pipefail)
                .newProcessGroup(processGroup)
                .foreground(processGroup);
        PrintWriter err = spec.commandLine().getErr();
        AtomicReference<Pipeline.Running> started = new AtomicReference<>();
        waitOutInterrupts(started);
        if (processGroup) passOnSignals(started, err);
        Pipeline.Result result;
        try (Pipeline.Running running = pipeline.start()) {
            started.set(running);
            result = running.waitFor();
        } catch (SpawnException e) {
            err.println(spec.root().name() + ": " + e.getMessage());     // "panpipe: pipeline stage 2 (...): ..."
            return e.shellCode();                                         // 127 not found, 126 found but not executable
        } catch (IOException e) {
            err.println(spec.root().name() + ": " + e.getMessage());
            return EXIT_REDIRECT;
        } finally {
            err.flush();
        }
        ExitStatus deciding = result.decidingStatus();
        // Died of Ctrl-C, as bash does after such a pipeline, so that a script running panpipe stops too.
        if (deciding.signaled() && deciding.signal() == Signals.SIGINT) return Main.stoppedBySignal(Signals.SIGINT);
        return result.exitCode();
    }

    /**
     * Ctrl-C sends SIGINT to the whole foreground process group: the stages and this JVM. Like a shell
     * waiting for a foreground pipeline, panpipe lets the stages decide: it keeps waiting, and dies of SIGINT
     * ({@link Main#dieOf}) only if the last stage (or, with --pipefail, the status-deciding one) died of
     * it. A stage that catches it and carries on is not orphaned by panpipe exiting under it.
     *
     * <p>Before any stage exists, though, panpipe may be waiting in open(2) for --in or --out: a FIFO waits
     * for its other end, as bash's {@code cat < fifo} does. There SIGINT ends panpipe, as it ends bash's
     * redirection, or nothing but SIGKILL would. "No stage yet" is this JVM having no child while
     * {@link Pipeline#start()} has not returned: it spawns only after every file is open.
     */
    private static void waitOutInterrupts(AtomicReference<Pipeline.Running> started) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> {
                if (started.get() == null && ProcessHandle.current().children().findAny().isEmpty()) Main.dieOf(Signals.SIGINT);
            });
        } catch (IllegalArgumentException e) {
            // the JVM runs with -Xrs or the signal is reserved: keep the default, exiting on SIGINT
        }
    }

    /**
     * With --process-group the stages are out of panpipe's group, so a {@code kill -- -PGID} of panpipe's group
     * does not reach them (a terminal's Ctrl-C does: their group is the terminal's foreground one then, see
     * {@link Pipeline#foreground}, and panpipe's is not), and panpipe's dying of SIGTERM or SIGHUP would leave
     * them running: each of the three is passed on to the stages' group ({@link Pipeline.Running#signal}), and
     * panpipe waits for the stages as before, so what they do with it decides its status. Before any stage
     * exists it dies of the signal, as {@link #waitOutInterrupts} does for SIGINT; while they are being started,
     * it waits for the start to be over.
     */
    private static void passOnSignals(AtomicReference<Pipeline.Running> started, PrintWriter err) {
        for (int sig : new int[] {Signals.SIGINT, Signals.SIGTERM, Signals.SIGHUP}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(Signals.name(sig).substring("SIG".length())), signal -> {
                    Pipeline.Running running = started.get();
                    // Children but no Running yet: start is spawning the later stages. It is short, and a failed
                    // one ends the stages itself, leaving no child.
                    while (running == null && ProcessHandle.current().children().findAny().isPresent()) {
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            return;   // the JVM is going down: nobody to pass the signal on for
                        }
                        running = started.get();
                    }
                    if (running == null) {
                        Main.dieOf(sig);
                        return;
                    }
                    try {
                        running.signal(sig);
                    } catch (IOException e) {
                        err.println("panpipe: cannot pass " + Signals.name(sig) + " on to the stages: " + e.getMessage());
                        err.flush();
                    }
                });
            } catch (IllegalArgumentException e) {
                // -Xrs, or reserved: this signal keeps its default
            }
        }
    }
}
