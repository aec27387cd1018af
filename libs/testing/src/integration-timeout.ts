// Integration tests start brokers, databases and processes: minutes, not seconds.
jest.setTimeout(300000);
