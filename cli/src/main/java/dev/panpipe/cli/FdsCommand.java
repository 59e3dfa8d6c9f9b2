package dev.panpipe.cli;

import dev.panpipe.process.FdInfo;
import dev.panpipe.process.FdTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code panpipe fds PID}: {@link FdTable} at the command line, as text or JSON. */
@Command(name = "fds",
        header = "List a process's file descriptors, and who holds the other end of each pipe and FIFO.",
        descriptionHeading = "%n",
        description = {
                "Reads /proc/PID/fd, /proc/PID/fdinfo and stat for each fd and prints its number, how it is open (r, w, "
                        + "rw), its kind (pipe, fifo, socket, file, directory, char-device, memfd, eventfd, epoll, pidfd, "
                        + "...) and what it is (the path, pipe:[inode], ...). For each pipe and FIFO it then looks through "
                        + "every process's fds for the same pipe or FIFO and names the holders: pid, command, fd and "
                        + "direction; 'no other end' means a read gets end of file, or a write EPIPE.",
                "",
                "Processes whose fds may not be read (another user's, or not dumpable) are skipped and named at the end "
                        + "(in JSON: \"unreadable\": [{..., \"unreadable\": true}]), since an end they hold cannot be seen.",
                "",
                "A zombie (exited, not yet reaped by its parent) has no fds: it is named as one, with its parent "
                        + "(in JSON: \"state\": \"zombie\", \"parent\": PPID, no fds). A process whose main thread has "
                        + "exited while others run still has its fds, read through one of those threads (\"thread\": TID).",
        },
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
                " 0:listed (a zombie too: it has no fds, and its parent is named)",
                " 1:there is no process PID (or it ended while being read)",
                " 2:bad arguments (PID not a positive number)",
                "77:PID's fds may not be read (another user's process, or not dumpable)",
        },
        footerHeading = "%nExamples:%n",
        footer = {
                "  panpipe fds $$",
                "  panpipe fds --json $(pgrep -n java) | python3 -m json.tool",
        })
final class FdsCommand implements Callable<Integer> {
    static final int EXIT_NO_PROCESS = 1;
    static final int EXIT_NOT_PERMITTED = 77;
    private static final int WHAT_WIDTH = 32;

    @Spec
    CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Option(names = "--json", description = "Print one JSON object, for scripts.")
    boolean json;

    @Parameters(index = "0", paramLabel = "PID", description = "The process to list.")
    long pid;

    @Override
    public Integer call() {
        if (pid <= 0) throw new ParameterException(spec.commandLine(), "PID must be a positive number, not " + pid);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        FdTable table;
        try {
            table = FdTable.of(pid);
        } catch (NoSuchFileException e) {
            err.println(spec.root().name() + " fds: " + e.getReason());
            err.flush();
            return EXIT_NO_PROCESS;
        } catch (AccessDeniedException e) {
            err.println(spec.root().name() + " fds: " + e.getReason());
            err.flush();
            return EXIT_NOT_PERMITTED;
        } catch (IOException e) {
            err.println(spec.root().name() + " fds: cannot read /proc for process " + pid + ": " + e);
            err.flush();
            return EXIT_NO_PROCESS;
        }
        out.print(json ? json(table) : text(table));
        out.flush();
        return 0;
    }

    static String text(FdTable table) {
        StringBuilder s = new StringBuilder();
        if (table.zombie()) {
            // Its fd folder is empty: without this it would read as a live process with nothing open.
            return s.append("pid ").append(table.pid()).append(" (").append(table.command()).append("): zombie (exited, not yet reaped by its parent ")
                    .append(table.parent()).append(" (").append(table.parentCommand()).append(")): no open files\n").toString();
        }
        s.append("pid ").append(table.pid()).append(" (").append(table.command()).append("), ")
                .append(table.fds().size()).append(table.fds().size() == 1 ? " fd\n" : " fds\n");
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"FD", "ACCESS", "KIND", "WHAT", ""});
        for (FdInfo fd : table.fds()) {
            rows.add(new String[]{Integer.toString(fd.fd()), fd.access().label(), fd.kind().label(), fd.target(), notes(fd)});
        }
        int[] width = new int[4];
        for (String[] row : rows) {
            for (int i = 0; i < 4; i++) width[i] = Math.max(width[i], row[i].length());
        }
        width[3] = Math.min(width[3], WHAT_WIDTH);   // a long path only pushes its own line's notes along
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            line.append(" ".repeat(width[0] - row[0].length())).append(row[0]);
            for (int i = 1; i < 4; i++) line.append("  ").append(row[i]).append(" ".repeat(Math.max(0, width[i] - row[i].length())));
            if (!row[4].isEmpty()) line.append("  ").append(row[4]);
            s.append(line.toString().stripTrailing()).append('\n');
        }
        table.thread().ifPresent(thread -> s.append("note: its main thread has exited; these are the fds of thread ").append(thread)
                .append(", which the threads still running share\n"));
        if (!table.unreadable().isEmpty()) {
            s.append("note: ").append(table.unreadable().size()).append(table.unreadable().size() == 1 ? " process" : " processes")
                    .append(" could not be read (another user's, or not dumpable), so an end held there is not shown: ")
                    .append(table.unreadable().stream().map(u -> u.pid() + " (" + u.command() + ")").collect(Collectors.joining(", ")))
                    .append('\n');
        }
        return s.toString();
    }

    /** For a pipe or FIFO, who holds the other end (and the same end); for others, fdinfo's extra lines. */
    private static String notes(FdInfo fd) {
        if (!fd.isPipeLike()) return String.join(", ", fd.details());
        List<FdInfo.Holder> others = fd.otherEnds();
        List<FdInfo.Holder> same = fd.peers().stream().filter(h -> !others.contains(h)).toList();
        String note = others.isEmpty()
                ? "no other end" + (fd.access() == FdInfo.Access.WRITE ? " (a write gets EPIPE)" : " (a read gets end of file)")
                : (fd.access() == FdInfo.Access.WRITE ? "read by " : fd.access() == FdInfo.Access.READ ? "written by " : "also open in ") + holders(others);
        if (!same.isEmpty()) note += "; same end also in " + holders(same);
        return note;
    }

    private static String holders(List<FdInfo.Holder> holders) {
        return holders.stream().map(h -> h.pid() + " " + h.command() + " fd " + h.fd() + " (" + h.access().label() + ")")
                .collect(Collectors.joining(", "));
    }

    static String json(FdTable table) {
        StringBuilder s = new StringBuilder();
        s.append("{\"pid\": ").append(table.pid()).append(", \"command\": ").append(Json.string(table.command()))
                .append(", \"state\": ").append(Json.string(table.state()))
                .append(", \"parent\": ").append(table.parent())
                .append(", \"parentCommand\": ").append(Json.string(table.parentCommand()));
        table.thread().ifPresent(thread -> s.append(", \"thread\": ").append(thread));
        s.append(",\n \"fds\": [");
        for (int i = 0; i < table.fds().size(); i++) {
            FdInfo fd = table.fds().get(i);
            s.append(i == 0 ? "\n  " : ",\n  ");
            s.append("{\"fd\": ").append(fd.fd())
                    .append(", \"kind\": ").append(Json.string(fd.kind().label()))
                    .append(", \"access\": ").append(Json.string(fd.access().label()))
                    .append(", \"target\": ").append(Json.string(fd.target()));
            if (fd.path() != null) s.append(", \"path\": ").append(Json.string(fd.path().toString()));
            s.append(", \"device\": ").append(fd.device())
                    .append(", \"inode\": ").append(fd.inode())
                    .append(", \"flags\": ").append(Json.string("0" + Integer.toOctalString(fd.flags())))
                    .append(", \"position\": ").append(fd.position())
                    .append(", \"details\": [")
                    .append(fd.details().stream().map(Json::string).collect(Collectors.joining(", ")))
                    .append("]");
            if (fd.isPipeLike()) {
                s.append(", \"peers\": [");
                List<FdInfo.Holder> others = fd.otherEnds();
                for (int j = 0; j < fd.peers().size(); j++) {
                    FdInfo.Holder h = fd.peers().get(j);
                    s.append(j == 0 ? "" : ", ")
                            .append("{\"pid\": ").append(h.pid())
                            .append(", \"command\": ").append(Json.string(h.command()))
                            .append(", \"fd\": ").append(h.fd())
                            .append(", \"access\": ").append(Json.string(h.access().label()))
                            .append(", \"otherEnd\": ").append(others.contains(h))
                            .append('}');
                }
                s.append(']');
            }
            s.append('}');
        }
        s.append("\n ],\n \"unreadable\": [");
        for (int i = 0; i < table.unreadable().size(); i++) {
            FdTable.Unreadable u = table.unreadable().get(i);
            s.append(i == 0 ? "" : ", ")
                    .append("{\"pid\": ").append(u.pid())
                    .append(", \"command\": ").append(Json.string(u.command()))
                    .append(", \"unreadable\": true, \"reason\": ").append(Json.string(u.reason()))
                    .append('}');
        }
        return s.append("]}\n").toString();
    }
}
