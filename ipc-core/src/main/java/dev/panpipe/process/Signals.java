package dev.panpipe.process;

import dev.panpipe.bindings.linux.linux_h;

import java.util.Map;

/** Signal numbers panpipe sends and reports, from the C headers, and their names. */
public final class Signals {
    public static final int SIGHUP = linux_h.SIGHUP();
    public static final int SIGINT = linux_h.SIGINT();
    public static final int SIGQUIT = linux_h.SIGQUIT();
    public static final int SIGKILL = linux_h.SIGKILL();
    public static final int SIGPIPE = linux_h.SIGPIPE();
    public static final int SIGTERM = linux_h.SIGTERM();
    public static final int SIGUSR1 = linux_h.SIGUSR1();
    public static final int SIGSTOP = linux_h.SIGSTOP();
    public static final int SIGCONT = linux_h.SIGCONT();

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(linux_h.SIGHUP(), "SIGHUP"), Map.entry(linux_h.SIGINT(), "SIGINT"),
            Map.entry(linux_h.SIGQUIT(), "SIGQUIT"), Map.entry(linux_h.SIGILL(), "SIGILL"),
            Map.entry(linux_h.SIGABRT(), "SIGABRT"), Map.entry(linux_h.SIGBUS(), "SIGBUS"),
            Map.entry(linux_h.SIGFPE(), "SIGFPE"), Map.entry(linux_h.SIGKILL(), "SIGKILL"),
            Map.entry(linux_h.SIGUSR1(), "SIGUSR1"), Map.entry(linux_h.SIGSEGV(), "SIGSEGV"),
            Map.entry(linux_h.SIGUSR2(), "SIGUSR2"), Map.entry(linux_h.SIGPIPE(), "SIGPIPE"),
            Map.entry(linux_h.SIGALRM(), "SIGALRM"), Map.entry(linux_h.SIGTERM(), "SIGTERM"),
            Map.entry(linux_h.SIGCHLD(), "SIGCHLD"), Map.entry(linux_h.SIGCONT(), "SIGCONT"),
            Map.entry(linux_h.SIGSTOP(), "SIGSTOP"), Map.entry(linux_h.SIGTSTP(), "SIGTSTP"));

    private Signals() {
    }

    /** "SIGTERM", or "signal N" for one panpipe does not name. */
    public static String name(int signal) {
        return NAMES.getOrDefault(signal, "signal " + signal);
    }
}
