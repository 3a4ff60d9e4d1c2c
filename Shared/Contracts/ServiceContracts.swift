/// The methods each service serves. The server registers exactly these (a test checks it) and
/// `contracts/<service>.openrpc.json` documents exactly these (a test checks that too).
public enum ServiceContracts {
    public static func methods(of service: ServiceName) -> [RPCMethodDescriptor] {
        var methods = [SystemMethods.readiness.descriptor]
        switch service {
        case .gateway:
            methods.append(GatewayMethods.reportStep.descriptor)
            methods.append(GatewayMethods.importProgress.descriptor)
            methods.append(GatewayMethods.ingestionProgress.descriptor)
            methods.append(GatewayMethods.sourceProgress.descriptor)
            methods.append(GatewayMethods.processingProgress.descriptor)
            methods.append(GatewayMethods.trainingUpdate.descriptor)
            methods.append(GatewayMethods.predictionProgress.descriptor)
            methods.append(GatewayMethods.scanProgress.descriptor)
            methods.append(GatewayMethods.activeModelChanged.descriptor)
        case .sourceValidator:
            methods.append(WarehouseMethods.importRepository.descriptor)
            methods.append(WarehouseMethods.listBuilds.descriptor)
            methods.append(WarehouseMethods.forgetRepository.descriptor)
            methods.append(BuildSourceMethods.create.descriptor)
            methods.append(BuildSourceMethods.status.descriptor)
            methods.append(BuildSourceMethods.rows.descriptor)
            methods.append(BuildSourceMethods.foundBuilds.descriptor)
            methods.append(BuildSourceMethods.delete.descriptor)
        case .ingestor:
            methods.append(IngestionMethods.start.descriptor)
            methods.append(IngestionMethods.builds.descriptor)
            methods.append(IngestionMethods.retryFailed.descriptor)
            methods.append(IngestionMethods.releaseWorktrees.descriptor)
            methods.append(IngestionMethods.forget.descriptor)
            methods.append(IngestionMethods.logFacts.descriptor)
            methods.append(IngestionMethods.checkoutCommit.descriptor)
            methods.append(IngestionMethods.releaseCommit.descriptor)
            methods.append(IngestionMethods.fetchCommit.descriptor)
        case .featureExtractor:
            methods.append(FeatureMethods.process.descriptor)
            methods.append(FeatureMethods.vectors.descriptor)
            methods.append(FeatureMethods.reprocessFailed.descriptor)
            methods.append(FeatureMethods.catalogue.descriptor)
            methods.append(FeatureMethods.resolve.descriptor)
            methods.append(FeatureMethods.forget.descriptor)
            methods.append(FeatureMethods.backfillScanMetrics.descriptor)
            methods.append(FeatureMethods.compute.descriptor)
        case .scannerBridge:
            methods.append(ScanMethods.request.descriptor)
            methods.append(ScanMethods.status.descriptor)
            methods.append(ScanMethods.retryFailed.descriptor)
            methods.append(ScanMethods.commits.descriptor)
            methods.append(ScanMethods.retryCommit.descriptor)
        case .trainingOrchestrator:
            methods.append(RegistryMethods.active.descriptor)
            methods += [
                TrainingMethods.start.descriptor, TrainingMethods.list.descriptor, TrainingMethods.get.descriptor,
                TrainingMethods.cancel.descriptor, TrainingMethods.retry.descriptor, TrainingMethods.logs.descriptor,
                TrainingMethods.stats.descriptor,
                ModelRegistryMethods.versions.descriptor, ModelRegistryMethods.activate.descriptor,
                ModelRegistryMethods.setAlias.descriptor, ModelRegistryMethods.removeAlias.descriptor,
                ModelRegistryMethods.alias.descriptor, ModelRegistryMethods.deleteVersion.descriptor,
                ExperimentMethods.list.descriptor, ExperimentMethods.get.descriptor, ExperimentMethods.compare.descriptor,
                TrainingScheduleMethods.create.descriptor, TrainingScheduleMethods.list.descriptor,
                TrainingScheduleMethods.delete.descriptor, TrainingScheduleMethods.setPaused.descriptor,
            ]
        case .predictor:
            methods.append(PredictorMethods.activeModelChanged.descriptor)
            methods.append(PredictionMethods.predict.descriptor)
            methods.append(PredictionMethods.repredict.descriptor)
            methods.append(PredictionMethods.retryFailed.descriptor)
            methods.append(PredictionMethods.forget.descriptor)
            methods.append(PredictionMethods.list.descriptor)
            methods.append(PredictionMethods.get.descriptor)
            methods.append(PredictionMethods.score.descriptor)
        case .datasetSplitter:
            methods += [
                DatasetMethods.evaluate.descriptor, DatasetMethods.qualityReport.descriptor, DatasetMethods.data.descriptor,
                DatasetMethods.distribution.descriptor, DatasetMethods.correlation.descriptor, DatasetMethods.exportChunk.descriptor,
                DatasetMethods.startExport.descriptor, DatasetMethods.exportJobs.descriptor, DatasetMethods.exportJob.descriptor,
                DatasetMethods.forget.descriptor,
            ]
        }
        return methods
    }
}
