package dev.panpipe.cli;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.process.Signals;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.module.ModuleDescriptor;
import java.util.concurrent.Callable;

/**
 * {@code panpipe}: the command line, run by {@code scripts/panpipe}.
 *
 * <p>Each subcommand is a class of its own: a picocli {@code @Command} that implements
 * {@code Callable<Integer>} (the exit status) and is listed in {@code subcommands} below. Usage errors
 * (picocli's, or a {@link CommandLine.ParameterException} thrown from {@code call()}) exit
 * {@value #EXIT_USAGE} with one message and a hint; an unexpected exception exits {@value #EXIT_INTERNAL}
 * with its stack trace, since it is a bug.
 */
@Command(name = "panpipe",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Pipes, pipelines and shared memory between processes, from Java's FFM API, without a shell.",
        synopsisSubcommandLabel = "COMMAND",
        commandListHeading = "%nCommands:%n",
        subcommands = {
                dev.panpipe.cli.convert.ConvertCommand.class,
                PipelineCommand.class,
                MuxCommand.class,
                FdsCommand.class,
                // later: BenchCommand.class
                CommandLine.HelpCommand.class,
        },
        footerHeading = "%n",
        footer = "Run 'panpipe COMMAND --help' for a command's options and exit status.")
public final class Main implements Callable<Integer> {
    /** Bad arguments (as picocli and most Unix tools). */
    public static final int EXIT_USAGE = 2;
    /** An unexpected exception: a bug in panpipe (sysexits.h EX_SOFTWARE). */
    public static final int EXIT_INTERNAL = 70;
    /**
     * Stdout's reader went away (EPIPE): what a shell reports for a process that SIGPIPE killed, 128 + 13.
     * The one exit status for it, of every command (see {@link #afterStdout}, and MuxCommand's output).
     */
    static final int EXIT_BROKEN_PIPE = 141;

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        FailureRecordingStream stdout = new FailureRecordingStream(new FileOutputStream(FileDescriptor.out));
        System.setOut(new PrintStream(new BufferedOutputStream(stdout, 8192), true, System.out.charset()));
        CommandLine cl = commandLine();
        cl.setOut(new PrintWriter(new OutputStreamWriter(System.out, System.out.charset()), true));
        int code = undecodableArgument(args, cl.getErr());
        if (code == 0) code = cl.execute(args);
        cl.getOut().flush();
        System.out.flush();
        int status = afterStdout(stdout.failure(), code, cl.getErr());
        int signal = stoppedBy;
        if (signal != 0 && status == 128 + signal) dieOf(signal);
        System.exit(status);
    }

    /** The signal a command stopped for (see {@link #stoppedBySignal}), or 0. */
    private static volatile int stoppedBy;

    /**
     * For a command that stopped because of {@code signal} (SIGINT, SIGTERM, SIGHUP) and has cleaned up: returns
     * 128+N, the status a shell shows for it, and has {@link #main} end the JVM by that signal once stdout is
     * flushed ({@link #dieOf}), as a C program that cleans up on a signal re-raises it.
     */
    public static int stoppedBySignal(int signal) {
        stoppedBy = signal;
        return 128 + signal;
    }

    /**
     * Ends this JVM by {@code signal} itself, with the signal's default action, rather than exit 128+N. A calling
     * shell tells the two apart, and only the first stops a script: a child that exits 130 has (for all bash
     * knows) caught Ctrl-C and carried on, so bash goes on with the script's next command, while a child that
     * died of SIGINT means the user wants the script stopped, and bash stops it too. Falls back to exiting
     * 128+N where the signal cannot be re-raised (under -Xrs, or a signal ignored since the JVM started).
     */
    static void dieOf(int signal) {
        System.out.flush();
        System.err.flush();
        try {
            sun.misc.Signal.handle(new sun.misc.Signal(Signals.name(signal).substring("SIG".length())), sun.misc.SignalHandler.SIG_DFL);
            Syscalls.kill(Syscalls.getpid(), signal);
        } catch (IllegalArgumentException | SyscallException e) {
            // -Xrs, or the signal ignored since the JVM started: the shell's number for it, then
        }
        Runtime.getRuntime().exit(128 + signal);
    }

    /**
     * PrintStream and PrintWriter swallow write errors, so a listing written to a full disk or a closed pipe
     * was lost with exit 0. A failed stdout is named on stderr and fails the run (1, unless it failed
     * already); a reader that went away (EPIPE) ends it quietly with 141, as SIGPIPE ends a C program.
     */
    static int afterStdout(IOException failure, int code, PrintWriter err) {
        if (failure == null) return code;
        if (IoErrors.isBrokenPipe(failure)) return code != 0 ? code : EXIT_BROKEN_PIPE;
        err.println("panpipe: cannot write to stdout: " + failure.getMessage());
        err.flush();
        return code != 0 ? code : 1;
    }

    /**
     * The JVM decodes argv with the locale's charset and turns bytes it cannot decode into U+FFFD: under
     * LC_ALL=C, 'grep é' would reach grep as 'grep' and two of those, a different search. Refused instead
     * (exit {@value #EXIT_USAGE}), naming the argument; 0 if every argument decoded.
     */
    static int undecodableArgument(String[] args, PrintWriter err) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].indexOf('\uFFFD') < 0) continue;
            err.println("panpipe: argument " + (i + 1) + " ('" + args[i].replace('\uFFFD', '?') + "') has bytes that are not valid "
                    + System.getProperty("sun.jnu.encoding", "text") + " (the charset of this locale: LC_ALL, LC_CTYPE, LANG) "
                    + "and would not reach the command as given; run panpipe in a UTF-8 locale, e.g. LC_ALL=C.UTF-8");
            err.flush();
            return EXIT_USAGE;
        }
        return 0;
    }

    /** The configured command line, for main and for tests. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExpandAtFiles(false);   // an argument starting with @ is a word, not a file to read arguments from
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println(commandLine.getCommandSpec().qualifiedName() + ": internal error: " + e);
            e.printStackTrace(err);
            err.flush();
            return EXIT_INTERNAL;
        });
        return cl;
    }

    /** No command given: the usage, on stderr, as an error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return EXIT_USAGE;
    }

    private static int usageError(CommandLine.ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        String name = cl.getCommandSpec().qualifiedName();
        err.println(name + ": " + e.getMessage());
        err.println("Try '" + name + " --help' for more information.");
        err.flush();
        return EXIT_USAGE;
    }

    /** An output stream that remembers its first write error (PrintStream keeps only a flag). */
    static final class FailureRecordingStream extends FilterOutputStream {
        private volatile IOException failure;

        FailureRecordingStream(OutputStream out) {
            super(out);
        }

        IOException failure() {
            return failure;
        }

        @Override
        public void write(int b) throws IOException {
            try {
                out.write(b);
            } catch (IOException e) {
                throw record(e);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                throw record(e);
            }
        }

        @Override
        public void flush() throws IOException {
            try {
                out.flush();
            } catch (IOException e) {
                throw record(e);
            }
        }

        private IOException record(IOException e) {
            if (failure == null) failure = e;
            return e;
        }
    }

    /** The version the module was compiled with: Maven's project version (maven-compiler-plugin's --module-version). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[]{
                    "panpipe " + version(),
                    "Java ${java.version} (${java.vendor}) on ${os.name} ${os.version} ${os.arch}",
            };
        }

        static String version() {
            ModuleDescriptor d = Main.class.getModule().getDescriptor();
            if (d == null) return "(unknown version: not run as a module)";
            return d.rawVersion().orElse("(unknown version: the module descriptor has none)");
        }
    }
}
