/** The panpipe command line: {@code scripts/panpipe} runs {@code dev.panpipe.cli.Main}. */
module dev.panpipe.cli {
    requires dev.panpipe.core;
    requires dev.panpipe.zerocopy;
    requires info.picocli;
    requires java.desktop;             // javax.imageio: PNG and JPEG for 'convert' (dev.panpipe.cli.image)
    requires me.tongfei.progressbar;   // the progress bar of 'convert' on a terminal
    requires jdk.unsupported;          // sun.misc.Signal: pipeline waits out Ctrl-C as a shell does; convert and mux stop their children

    opens dev.panpipe.cli to info.picocli;
    opens dev.panpipe.cli.convert to info.picocli;
}
