// The fake secutools API for tests (SPEC §5). The implementation is JavaScript so the demo can run it as
// a plain process (fake-secutools-server.mjs); this module is the typed entry point tests import.
export {startFakeSecutools} from './fake-secutools-core.mjs'
export type {AutoCompleteRule, FakeJob, FakeOptions, FakeRequest, FakeSecutools, Flakiness} from './fake-secutools-core.mjs'
