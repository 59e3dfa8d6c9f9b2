/** JMH benchmarks. */
package dev.panpipe.bench;
