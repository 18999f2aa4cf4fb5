'use strict';
// serverless.yml plugin: after serverless-python-requirements has put the dependencies into the
// service artifact, add their compiled bytecode (see compile_bytecode.py). Lambda's /var/task is
// read-only, so without .pyc files every cold start compiles every module it imports.
const path = require('path');
const { spawnSync } = require('child_process');

class CompileBytecode {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.compile(),
    };
  }

  compile() {
    const service = this.serverless.service;
    const artifact = service.package.artifact;
    if (!artifact) {
      throw new this.serverless.classes.Error(
        'compile-bytecode: no service artifact (serverless.yml must keep package.individually false)'
      );
    }
    // the interpreter of the Lambda runtime's version: bytecode is specific to it
    const python = service.provider.runtime; // e.g. python3.11
    const script = path.join(__dirname, 'compile_bytecode.py');
    const result = spawnSync(python, [script, artifact], { encoding: 'utf8' });
    if (result.error || result.status !== 0) {
      throw new this.serverless.classes.Error(
        `compile-bytecode: ${python} ${script} ${artifact} failed: ` +
          `${result.error || ''}${result.stdout || ''}${result.stderr || ''}`
      );
    }
    if (this.log) this.log.info(result.stdout.trim());
  }
}

module.exports = CompileBytecode;
