// Moved to bench/ so that the benchmarks can start emulators too (bench/ may not import tests/).
export * from '../../bench/emulators/start-emulator';
